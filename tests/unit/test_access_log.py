"""Personal link tokens never reach gunicorn's access log, which writes one JSON line per request."""
import io
import json
import logging
from datetime import timedelta

from gunicorn.config import Config

from registro.observability.access_log import TokenMaskingLogger, mask
from registro.observability import logs


def test_mask_hides_the_token_and_keeps_the_rest():
    assert mask("GET /activacion/eyJhIjoiMSJ9.abc.def/documentos/curp HTTP/1.1") == \
        "GET /activacion/…/documentos/curp HTTP/1.1"
    assert mask("GET /registro HTTP/1.1") == "GET /registro HTTP/1.1"


class _Resp:
    status = "200 OK"
    response_length = 10
    sent = 10
    headers = [("X-Request-ID", "del-encabezado")]


class _Req:
    headers = []
    method = "GET"
    path = "/activacion/SECRETO.x.y"
    query = ""
    uri = "/activacion/SECRETO.x.y"
    version = (1, 1)


def test_logger_atoms_are_masked():
    logger = TokenMaskingLogger(Config())
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/activacion/SECRETO.x.y", "PATH_INFO": "/activacion/SECRETO.x.y",
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    from datetime import timedelta

    atoms = logger.atoms(_Resp(), _Req(), environ, timedelta(seconds=0.01))
    assert "SECRETO" not in atoms["r"] and "SECRETO" not in atoms["U"]


def test_gunicorn_access_log_is_one_json_line_with_the_request_id_and_no_token():
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = TokenMaskingLogger(cfg)
    handlers = logger.access_log.handlers
    assert handlers and all(isinstance(h.formatter, logs.JsonFormatter) for h in handlers)
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(handlers[0].formatter)
    logger.access_log.handlers = [capture]
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/activacion/SECRETO.x.y", "PATH_INFO": "/activacion/SECRETO.x.y",
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "registro.request_id": "rid-7"}
    logger.access(_Resp(), _Req(), environ, timedelta(seconds=0.0123))
    out = stream.getvalue()
    assert out.count("\n") == 1 and "SECRETO" not in out
    line = json.loads(out)
    assert line["request_id"] == "rid-7" and line["status"] == 200 and line["path"] == "/activacion/…"
    assert line["method"] == "GET" and line["duration_ms"] == 12.3
