"""Entry point for gunicorn: `gunicorn registro.wsgi:app`."""
from registro import create_app

app = create_app()
