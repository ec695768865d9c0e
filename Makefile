# Two commands matter: `make demo` runs the whole product, `make test` proves it.
# Both set everything up first on a machine that has only Python 3.11+.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .devdata/tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
# Starts embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set, and exports their URLs.
SERVICES = eval "$$($(PY) -m prm.devservices env)"
export UV_PYTHON := $(shell command -v $(PYTHON))
export UV_LINK_MODE := copy

.PHONY: help install services migrate seed demo test lint check browsers bench messages stop clean

help:
	@echo "make demo   - install, start embedded PostgreSQL + Redis, migrate, seed, run web + worker + beat"
	@echo "make test   - install, start services, lint and run the whole test suite"
	@echo "make bench  - run the benchmarks in bench/ (ratios against a baseline measured in the same run)"
	@echo "make stop   - stop the embedded PostgreSQL and Redis"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

install: .venv/.installed

services: install
	@$(SERVICES) && echo "PostgreSQL and Redis ready"

migrate: install
	@$(SERVICES) && PRM_DB_AS_OWNER=1 $(PY) manage.py migrate --no-input -v 0

seed: migrate
	@$(SERVICES) && $(PY) manage.py seed_demo

demo: seed
	@$(SERVICES) && $(PY) -m prm.devrun

browsers:
	@bash prm/scripts/ensure-chromium.sh

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy prm partners deals incentives mdf enablement

check: install
	@$(SERVICES) && PRM_DB_AS_OWNER=1 $(PY) manage.py makemigrations --check --dry-run -v 1
	@$(SERVICES) && DJANGO_SETTINGS_MODULE=prm.settings.production \
	  SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	  FIELD_ENCRYPTION_KEYS="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	  DATABASE_URL="postgres://prm_app:check-only@127.0.0.1:1/prm" \
	  $(PY) manage.py check --deploy --fail-level WARNING

test: install browsers lint check
	@$(SERVICES) && $(PY) -m pytest $(PYTEST_ARGS)

bench: seed
	@$(SERVICES) && $(PY) -m bench.tenancy_overhead && $(PY) -m bench.lead_routing && $(PY) -m bench.commission_job

messages: install
	@command -v msgfmt >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext)
	$(PY) manage.py makemessages -l zh_Hans -l ms -l en --ignore=.venv --ignore=.devdata --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv --ignore=.devdata

stop:
	@$(PY) -m prm.devservices stop

clean: stop
	rm -rf .venv .devdata staticfiles
