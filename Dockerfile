# The `registro` service and the example module (same image, different command). Runs as the
# replicas of `make prod-up` run (tools/stack/prod.py, GUNICORN_OPTIONS; a unit test keeps them equal).
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
# The one-shot `bucket` service of docker-compose.yml (the bucket and its CORS rule).
COPY tools/__init__.py ./tools/
COPY tools/stack/__init__.py tools/stack/bucket.py ./tools/stack/
# prometheus_client's multiprocess files: one folder per container, empty at start (tmpfs in compose).
RUN mkdir -p /run/metrics && chown nobody /run/metrics
ENV PYTHONPATH=/app:/app/services PYTHONUNBUFFERED=1 PROMETHEUS_MULTIPROC_DIR=/run/metrics \
    GUNICORN_CMD_ARGS="--workers 3" MALLOC_ARENA_MAX=2
USER nobody
EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "-c", "python:registro.gunicorn_conf", "--threads", "4", "registro.wsgi:app"]
