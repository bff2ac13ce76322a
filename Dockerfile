# The `registro` service and the example module (same image, different command).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY keycloak_ext ./keycloak_ext
COPY realm-config ./realm-config
COPY services ./services
ENV PYTHONPATH=/app:/app/services PYTHONUNBUFFERED=1
USER nobody
EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "--workers", "4", "--threads", "4", "--logger-class", "registro.access_log.TokenMaskingLogger", "registro.wsgi:app"]
