"""Entry point for gunicorn: `gunicorn modulo_ejemplo.wsgi:app`."""
from . import create_app

app = create_app()
