# Every target sets up what it needs; `make run` and `make test` work on a fresh Debian machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

# uv, pinned, from PyPI, in a virtualenv of its own under .tools/; it builds .venv
# from uv.lock with $(PYTHON) and never downloads an interpreter.
UV_VERSION := 0.13.9
UV_HOME := .tools/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compiled at install, as pip does: with PYTHONDONTWRITEBYTECODE set, every
# process would otherwise compile Django and daphne again as it starts.
export UV_COMPILE_BYTECODE := 1

.PHONY: help run bench test lint check-deploy format check-system test-unit test-stack test-browser demo lock clean venv axe-core

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet uv==$(UV_VERSION)

# `--locked`: uv.lock must match pyproject.toml (after editing it, `make lock`).
$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --quiet
	touch $@

venv: $(STAMP) ## Create .venv with the locked dependencies

# region: make-run
# The liveblog scheduler runs beside the server and stops with it; so does
# run_banner, which prints the address and the demo accounts once daphne
# listens. daphne's options are project/daphne.py's; nothing is in front, so
# no --proxy-headers.
run: $(STAMP) ## Serve the app with demo data on http://127.0.0.1:8000 (PORT= to change)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_data
	$(BIN)/python manage.py liveblog_worker & worker=$$!; \
	$(BIN)/python manage.py run_banner --port $(PORT) & banner=$$!; \
	trap 'kill $$worker $$banner 2>/dev/null' EXIT; \
	$(BIN)/python -m project.daphne -b 127.0.0.1 -p $(PORT) project.asgi:application
# endregion

demo: $(STAMP) ## Load the demo data (idempotent)
	$(BIN)/python manage.py load_demo_data

# The application packages mypy checks (the tests are not type-checked).
MYPY_PACKAGES := project streams website chat liveblog people

lint: $(STAMP) ## ruff, mypy, and the checks that the protocol docs, tutorial and migrations match the code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=project.settings.test $(BIN)/python manage.py protocol_docs --check
	DJANGO_SETTINGS_MODULE=project.settings.test $(BIN)/python manage.py tutorial_excerpts --check
	DJANGO_SETTINGS_MODULE=project.settings.test $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy $(MYPY_PACKAGES)

# No Docker engine needed: the real Compose binary validates the file, with
# deploy/.env.example (its blanks filled) standing in for deploy/.env.
check-deploy: $(STAMP) ## Validate deploy/docker-compose.yml with Compose, lint the Dockerfile with hadolint
	$(BIN)/hadolint Dockerfile
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	sed 's/^\([A-Z_]*\)=$$/\1=check/' deploy/.env.example > "$$tmp/.env" && \
	echo "docker-compose -f deploy/docker-compose.yml config -q" && \
	$(BIN)/docker-compose -f deploy/docker-compose.yml --project-directory "$$tmp" config -q

format: $(STAMP) ## Format and fix the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: docs
docs: $(STAMP) ## Regenerate the protocol docs from the models, the tutorial's listings from the code
	DJANGO_SETTINGS_MODULE=project.settings.test $(BIN)/python manage.py protocol_docs
	DJANGO_SETTINGS_MODULE=project.settings.test $(BIN)/python manage.py tutorial_excerpts

check-system: ## Install redis-server, nginx and chromium if missing (or say how)
	@bash tests/ensure-system-packages.sh

test: lint check-deploy check-system ## The whole suite: lint, deploy checks, unit, both stacks, browser
	$(MAKE) --no-print-directory test-unit test-stack test-browser

# The unit and stack runs spread over the cores, a module to a worker (a module's
# servers start once); TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --dist loadscope

test-unit: $(STAMP) ## Unit, consumer and integration tests on the embedded default
	$(BIN)/pytest -m "not browser" $(XDIST)

# pytest exits with 5 when a marker selects no test: an empty run is not a failure.
test-stack: $(STAMP) ## The consumer tests again, on PostgreSQL + Redis
	TEST_STACK=postgres-redis $(BIN)/pytest -m "stack" $(XDIST) || [ $$? -eq 5 ]

# axe-core for the accessibility tests, pinned and checked against the npm registry's
# integrity hash, into .tools/ (tests/support/axe.py); nothing to do once it is there.
axe-core: ## Fetch axe-core (pinned) for the accessibility tests
	@$(PYTHON) -m tests.support.axe

# The search's browser test runs again on PostgreSQL: its full-text search is not SQLite's FTS5.
test-browser: $(STAMP) axe-core ## Browser tests in Chromium (the native compose topology too), own process
	$(BIN)/pytest -m browser tests/browser tests/deploy || [ $$? -eq 5 ]
	TEST_STACK=postgres-redis $(BIN)/pytest -m browser tests/browser/test_search.py

# Not part of `make test`: it takes several minutes and wants the machine to itself.
bench: $(STAMP) check-system ## Benchmark ceiling, baseline and this app's topologies (WORKLOAD=fanout|storm|rooms: one; docs/performance.md)
	$(BIN)/python -m tests.bench.run $(if $(WORKLOAD),--workload $(WORKLOAD)) $(BENCH_ARGS)

lock: | $(UV) ## Re-lock uv.lock after editing pyproject.toml (versions already locked stay)
	$(UV) lock

clean: ## Remove the venv, uv, the dev database and collected static files
	rm -rf $(VENV) .tools db.sqlite3 db.sqlite3-* staticfiles
