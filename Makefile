# Two commands matter: `make run` (the whole system, embedded defaults) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
export PORT

.PHONY: run test lint format install install-dev migrate schema bench bench-dsl bench-events bench-webhooks bench-jobs bench-workflows soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

## run: web + worker + beat (honcho + Procfile) on http://localhost:$(PORT).
## Embedded defaults: SQLite in var/ and the filesystem broker; set DATABASE_URL and
## CELERY_BROKER_URL to use PostgreSQL and Redis instead.
run: export CODEAI_DEBUG ?= true
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py dev_setup --port $(PORT)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start --port $(PORT) --procfile Procfile

## test: the whole suite (set DATABASE_URL / CELERY_BROKER_URL for PostgreSQL and Redis).
# Each run gets its own var/ (SQLite test database, filesystem broker), so a `make run` or
# another test run on the same machine never consumes this run's messages.
test: install-dev
	@vardir=$$(mktemp -d /tmp/codeai-test-XXXXXX); \
	CODEAI_VAR_DIR=$$vardir $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	rm -rf $$vardir; exit $$status

lint: install-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## schema: regenerate the committed OpenAPI document (a test keeps it current)
schema: install
	$(BIN)/python manage.py spectacular --file docs/openapi.yaml --validate --fail-on-warn

bench-dsl: install-dev
	$(BIN)/python bench/dsl.py

## The other benchmarks need PostgreSQL and Redis (see each script's docstring).
bench-events bench-webhooks bench-jobs bench-workflows: bench-%: install-dev
	$(BIN)/python bench/$*.py

bench: bench-dsl bench-events bench-webhooks bench-jobs bench-workflows

## soak: web, two workers and beat under a mixed API load for DURATION seconds, then a
## reconciliation of every job, run, execution, event and delivery (docs/reliability.md).
## FAULTS=1 also restarts this machine's Redis and PostgreSQL, kills a worker and fails the
## webhook receiver. Needs PostgreSQL and Redis on 127.0.0.1 (database codeai_soak, Redis db 5).
DURATION ?= 300
soak: install-dev
	$(BIN)/python bench/soak.py --duration $(DURATION) $(if $(filter 1 true yes,$(FAULTS)),--faults) $(SOAK_ARGS)

clean:
	rm -rf var staticfiles .pytest_cache .ruff_cache
