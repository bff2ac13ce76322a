"""Example ANAM module: how any module logs a user in through Acceso Único (OIDC)."""
from __future__ import annotations

from flask import Flask, jsonify


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(test_config or {})

    @app.get("/salud")
    def alive():
        return jsonify(estado="ok")

    @app.get("/")
    def home():
        return "Módulo de ejemplo de Acceso Único"

    return app
