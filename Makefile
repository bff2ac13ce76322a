# Acceso Único — the verbs. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
KEYCLOAK_VERSION := 26.7.3
VERSITYGW_VERSION := v1.8.0
CACHE := .cache
VENV := .venv
VENV_PY := $(VENV)/bin/python
KC_ZIP := $(CACHE)/keycloak/keycloak-quarkus-dist-$(KEYCLOAK_VERSION).zip
VERSITYGW := $(CACHE)/bin/versitygw
MAILDUMP := $(CACHE)/maildump-venv/bin/maildump
AXE := node_modules/axe-core/axe.min.js
EFIRMA_JS := services/registro/static/js/efirma.js
STACK := PYTHONPATH=$(CURDIR):$(CURDIR)/services $(VENV_PY) -m tools.stack
# The `make run` stack's settings (URLs, ports, admin) for one-off commands against it.
ENV_RUN = eval "$$($(STACK) env --profile run)" &&
# add-reviewer's stack: PERFIL=prod (or prodtest) for the production topology and its generated admin.
PERFIL ?= run
ENV_PERFIL = eval "$$($(STACK) env --profile $(PERFIL))" &&

.PHONY: help setup run up stop test test-unit fuzz audit reset-data provision migrate check-realm add-reviewer purge backfill retry-emails screens bench clean \
        prod-up prod-down prod-reset prod-restart backup restore bench-prod

help:
	@echo "make run         prepara todo, levanta la pila local e imprime las URL (Ctrl-C la detiene)"
	@echo "make test        prepara todo, levanta una pila aislada, corre todas las pruebas y la detiene"
	@echo "make stop        detiene la pila de 'make run'"
	@echo "make up          levanta la pila en segundo plano (sin esperar Ctrl-C)"
	@echo "make reset-data  borra los datos locales (reino, cubeta, buzón); conserva descargas"
	@echo "make test-unit   solo pruebas unitarias (sin servicios); UNIT=tests/unit/test_x.py para un archivo"
	@echo "make fuzz        fuzzing con un presupuesto mayor (FUZZ_EXAMPLES, FUZZ_STACK_EXAMPLES)"
	@echo "make audit       falla si pypdf o Pillow no están en su última versión de parche (consulta el índice de paquetes)"
	@echo "make migrate     lleva la base de datos de registro a la última migración (ARGS=current: muestra la revisión)"
	@echo "make check-realm informa diferencias entre realm-config/ y el reino en vivo"
	@echo "make add-reviewer USUARIO=… CORREO=… [PERFIL=prod]  crea un revisor con contraseña temporal (pila de make run o la de producción)"
	@echo "make purge [ARGS=--dry-run]  elimina las solicitudes expiradas (mantenimiento diario)"
	@echo "make backfill [ARGS=--dry-run]  pasa a la base de datos las solicitudes que aún guarda Keycloak (una vez, tras actualizar)"
	@echo "make retry-emails  vuelve a poner en la cola de envío todos los correos fallidos (tras una caída del correo)"
	@echo "make screens     regenera las capturas de docs/screens/"
	@echo "make bench       mide tiempos (registro, PDF, subida, cola con 1 M de solicitudes: BENCH_QUEUE_N) contra la pila de pruebas"
	@echo "make prod-up     levanta la topología de producción (PostgreSQL, 2 Keycloak, HAProxy, 2 registro, Redis)"
	@echo "make prod-down   detiene la pila de producción (sus datos y secretos quedan en .stack/prod)"
	@echo "make prod-restart SERVICIO=…  reinicia un proceso de la pila de producción (registro-a, keycloak-b, balancer…) sin tocar los demás"
	@echo "make backup      respaldo fechado de la pila de producción (base de Keycloak + objetos S3 + manifiesto)"
	@echo "make restore ARCHIVE=…  reconstruye la pila de producción desde un respaldo"
	@echo "make bench-prod  mide la pila de producción (arranque, inicios de sesión/s, conmutación, memoria)"

setup: $(CACHE)/system.ok $(CACHE)/java_home $(VENV)/.installed $(KC_ZIP) $(VERSITYGW) $(MAILDUMP) $(AXE) $(EFIRMA_JS)

$(CACHE)/system.ok: tools/system-packages.sh
	@mkdir -p $(CACHE)
	tools/system-packages.sh
	@touch $@

$(CACHE)/java_home: tools/find-jdk.sh
	@mkdir -p $(CACHE)
	tools/find-jdk.sh > $@.tmp && mv $@.tmp $@
	@echo "JDK para Keycloak: $$(cat $@)"

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Se requiere Python 3.11 o posterior")'
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet -r requirements.lock
	@touch $@

$(KC_ZIP):
	@command -v mvn >/dev/null || { echo "Falta Maven (mvn) para descargar Keycloak: apt-get install maven" >&2; exit 1; }
	mvn -q -B dependency:copy -Dartifact=org.keycloak:keycloak-quarkus-dist:$(KEYCLOAK_VERSION):zip \
	    -DoutputDirectory=$(CURDIR)/$(CACHE)/keycloak

$(VERSITYGW):
	@command -v go >/dev/null || { echo "Falta Go >= 1.25 para el servidor S3 (versitygw)" >&2; exit 1; }
	GOBIN=$(CURDIR)/$(CACHE)/bin go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

$(MAILDUMP): tools/maildump.lock
	test -x $(CACHE)/maildump-venv/bin/python || $(PYTHON) -m venv $(CACHE)/maildump-venv
	$(CACHE)/maildump-venv/bin/python -m pip install --quiet -r tools/maildump.lock
	@touch $@

$(AXE): package.json package-lock.json
	@command -v npm >/dev/null || { echo "Falta Node.js/npm para axe-core" >&2; exit 1; }
	npm ci --silent --no-audit --no-fund
	@touch $@

# The activation page's e.firma signing (issue 22): node-forge bundled by esbuild, both pinned in package.json.
$(EFIRMA_JS): $(AXE) $(wildcard services/registro/documents/efirma/browser/*.js)
	npm run --silent build:efirma

run: setup
	@$(STACK) run

up: setup
	@$(STACK) up

stop:
	@test -x $(VENV_PY) && $(STACK) down || true

reset-data: stop
	@$(STACK) reset

provision: setup
	@$(ENV_RUN) PYTHONPATH=$(CURDIR) $(VENV_PY) -m keycloak_ext provision

purge: setup
	@$(ENV_RUN) PYTHONPATH=$(CURDIR):$(CURDIR)/services $(VENV_PY) -m registro.ops.purge $(ARGS)

backfill: setup
	@$(ENV_RUN) PYTHONPATH=$(CURDIR):$(CURDIR)/services $(VENV_PY) -m registro.ops.backfill $(ARGS)

retry-emails: setup
	@$(ENV_RUN) PYTHONPATH=$(CURDIR):$(CURDIR)/services $(VENV_PY) -m registro.ops.retry_emails $(ARGS)

add-reviewer: setup
	@test -n "$(USUARIO)" -a -n "$(CORREO)" || { echo 'uso: make add-reviewer USUARIO=<usuario> CORREO=<correo>' >&2; exit 2; }
	@$(ENV_PERFIL) PYTHONPATH=$(CURDIR) $(VENV_PY) -m keycloak_ext add-reviewer "$(USUARIO)" "$(CORREO)"

# registro's database schema to this release's head (registro also does it when it starts);
# ARGS=current shows the revision, ARGS="downgrade -1" steps back one.
migrate: setup
	@$(ENV_RUN) PYTHONPATH=$(CURDIR):$(CURDIR)/services $(VENV_PY) -m registro.platform.db.migrate $(ARGS)

check-realm: setup
	@$(ENV_RUN) PYTHONPATH=$(CURDIR) $(VENV_PY) -m keycloak_ext check

test: setup
	@$(STACK) test -- $(PYTEST_ARGS)

# The bigger fuzzing budget (issue 11): Hypothesis profile "fuzz", FUZZ_EXAMPLES per property against
# the fakes, FUZZ_STACK_EXAMPLES against a fresh test stack. `make test` runs a small fixed budget.
fuzz: setup
	@HYPOTHESIS_PROFILE=fuzz $(STACK) test -- tests/reliability -k fuzz -p no:cacheprovider $(PYTEST_ARGS)

# Needs the package index: exit 1 when a pinned parser of uploads (pypdf, Pillow) is behind the
# latest patch release of its minor version, 2 when the index cannot be reached.
audit: $(VENV)/.installed
	@PYTHONPATH=$(CURDIR) $(VENV_PY) -m tools.check_pins

test-unit: $(VENV)/.installed
	@PYTHONPATH=$(CURDIR):$(CURDIR)/services $(VENV_PY) -m pytest $(or $(UNIT),tests/unit) $(PYTEST_ARGS)

screens: setup
	@$(STACK) test -- tests/e2e --screens=docs/screens

# Benchmarks are pytest files named bench_*.py, printing their measures.
BENCH_OPTS = -o python_files="bench_*.py" -o python_functions="bench_* test_*" -p no:cacheprovider -s -q

bench: setup
	@$(STACK) test -- benchmarks --ignore=benchmarks/bench_prod.py $(BENCH_OPTS)
	@$(MAKE) --no-print-directory bench-prod

# The production topology (tools/stack/prod.py). Ports: PROD_<NAME> overrides; data: .stack/prod.
prod-up: setup
	@$(STACK) up --profile prod

prod-down:
	@test -x $(VENV_PY) && $(STACK) down --profile prod || true

prod-reset: prod-down
	@$(STACK) reset --profile prod

prod-restart:
	@test -n "$(SERVICIO)" || { echo 'uso: make prod-restart SERVICIO=<registro-a|keycloak-b|balancer|…>' >&2; exit 2; }
	@$(STACK) restart --profile prod --servicio "$(SERVICIO)"

backup: setup
	@$(STACK) backup --profile prod

restore: setup
	@test -n "$(ARCHIVE)" || { echo 'uso: make restore ARCHIVE=backups/acceso-unico-prod-<fecha>.tar' >&2; exit 2; }
	@$(STACK) restore --profile prod --archive "$(ARCHIVE)"

# Measures the production topology on its own `prodtest` stack (started and stopped here).
bench-prod: setup
	@$(STACK) test -- benchmarks/bench_prod.py $(BENCH_OPTS)

clean: stop
	rm -rf $(VENV) $(CACHE) .stack node_modules
