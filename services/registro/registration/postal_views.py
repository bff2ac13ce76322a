"""GET /registro/cp/<cp>: what the SEPOMEX catalog knows of a postal code, as JSON, for the registration
form's progressive enhancement (static/js/registro.js). The form works without it."""
from __future__ import annotations

from flask import Blueprint, jsonify

from registro.container import adapters

bp = Blueprint("postal", __name__)


@bp.get("/registro/cp/<cp>", endpoint="lookup")
def lookup(cp: str):
    catalog = adapters().postal
    found = catalog.lookup(cp) if catalog is not None else None
    if found is None:
        response = jsonify({"cp": cp[:5], "encontrado": False})
        response.status_code = 404
    else:
        response = jsonify({**found.as_json(), "encontrado": True})
    # Public, unchanging between catalog imports: let the browser keep it for a day.
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
