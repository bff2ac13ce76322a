"""Spanish error pages for every failure a person can meet; nothing technical leaks."""
from __future__ import annotations

import logging

from flask import Flask, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from keycloak_ext import IdentityUnavailable

from registro.adapters.mail import MailUnavailable
from registro.adapters.sessions import SessionsUnavailable
from registro.adapters.storage import StorageUnavailable
from registro.extensions import retry_after_seconds
from registro.kernel.records import RecordBusy
from registro.platform.db import DatabaseUnavailable

log = logging.getLogger(__name__)

# The staff consoles' blueprints (/revision, /supervision): their pages need a console session.
CONSOLE_BLUEPRINTS = frozenset({"console", "review", "viewer", "supervision"})

MESSAGES = {
    400: ("Solicitud no válida", "La solicitud no pudo procesarse. Revise los datos e intente de nuevo."),
    403: ("Acceso denegado", "No tiene permiso para ver esta página."),
    404: ("Página no encontrada", "La página que busca no existe o ya no está disponible."),
    405: ("Método no permitido", "La acción solicitada no está permitida en esta página."),
    409: ("Operación en curso", "Hay otro cambio en curso. Espere unos segundos e intente de nuevo."),
    413: ("Archivo demasiado grande", "El archivo excede el tamaño máximo permitido."),
    429: ("Demasiados intentos", "Ha realizado demasiados intentos. Espere un momento e intente de nuevo."),
    500: ("Error interno", "Ocurrió un error inesperado. Intente de nuevo más tarde."),
    503: ("Servicio no disponible", "El servicio no está disponible en este momento. Intente de nuevo en unos minutos; sus datos no se perdieron."),
}


def error_page(status: int, detail: str | None = None, headers: dict | None = None):
    title, message = MESSAGES.get(status, MESSAGES[500])
    body = render_template("error.html", titulo=title, mensaje=detail or message, status=status)
    headers = dict(headers or {})
    if status == 429 and "Retry-After" not in headers:
        wait_s = retry_after_seconds()
        if wait_s is not None:
            headers["Retry-After"] = str(wait_s)
    return body, status, headers


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        return error_page(400, "El formulario expiró o no es válido. Vuelva a cargar la página e intente de nuevo.")

    @app.errorhandler(IdentityUnavailable)
    def identity_down(exc: IdentityUnavailable):
        log.error("Keycloak no disponible: %s", exc)
        return error_page(503, "El servicio de identidad no está disponible en este momento. "
                               "No se realizó ningún cambio; intente de nuevo en unos minutos.")

    @app.errorhandler(StorageUnavailable)
    def storage_down(exc: StorageUnavailable):
        log.error("almacenamiento S3 no disponible: %s", type(exc).__name__)
        return error_page(503, "El almacenamiento de documentos no está disponible en este momento. "
                               "No se realizó ningún cambio; intente de nuevo en unos minutos.")

    @app.errorhandler(RecordBusy)
    def application_busy(exc: RecordBusy):
        # A change of the application held its row longer than the bound: nothing changed, a retry completes.
        return error_page(503, exc.message)

    @app.errorhandler(DatabaseUnavailable)
    def database_down(exc: DatabaseUnavailable):
        log.error("base de datos no disponible: %s", exc)
        return error_page(503, "El servicio no está disponible en este momento. No se realizó ningún cambio; "
                               "intente de nuevo en unos minutos.")

    @app.errorhandler(SessionsUnavailable)
    def shared_state_down(exc: Exception):
        if request.blueprint in CONSOLE_BLUEPRINTS:
            # Console sessions are state that may be lost (issue 20): the reviewer is asked to log
            # in again, never shown a 5xx.
            log.warning("Redis no disponible en la consola; se pide iniciar sesión de nuevo: %s", type(exc).__name__)
            return redirect(url_for("console.interrupted"), 303)
        log.error("Redis no disponible: %s", type(exc).__name__)
        return error_page(503, "Un servicio interno no está disponible en este momento. "
                               "No se realizó ningún cambio; intente de nuevo en unos minutos.")

    @app.errorhandler(MailUnavailable)
    def mail_down(exc: MailUnavailable):
        log.error("SMTP no disponible: %s", exc)
        return error_page(503, "No fue posible enviar el correo en este momento. Intente de nuevo en unos minutos.")

    @app.errorhandler(429)
    def too_many(exc):
        # error_page adds Retry-After from the limit that was broken.
        return error_page(429)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code in MESSAGES:
            return error_page(exc.code, None)
        return exc

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("error no controlado")
        return error_page(500)
