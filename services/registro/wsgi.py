"""Entry point for gunicorn: `gunicorn registro.wsgi:app`."""
from . import create_app

app = create_app()
