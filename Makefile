# Scène Commune — every target sets itself up (venv + pinned requirements) on first use.
#   make demo    four-node federation on 127.0.0.1:8001-8004
#   make test    the test suite on SQLite (browser tests when /usr/bin/chromium exists)
#   make lint    ruff check, ruff format --check, mypy, makemigrations --check (all run, then fail if any did)
#   make bench   ratio benchmarks -> docs/BENCHMARKS.md
# Variables: PYTEST_ARGS="-k foo -x" passes options to pytest; TEST_WORKERS=N runs pytest-xdist with N
# processes (0 = no xdist); DATABASE_URL / REDIS_URL select PostgreSQL and a real Celery worker.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
CHROMIUM := /usr/bin/chromium
# pytest-xdist: 2 processes on 2+ cores (measured faster once the suite passed a few seconds; see
# docs/operations.md), none on a single core.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); if [ $$n -ge 2 ]; then echo 2; else echo 0; fi)
# --dist loadgroup: tests marked xdist_group (a real multi-process federation) share one worker, so
# one cluster is started, not one per worker.
XDIST := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup,)
NO_BROWSER_NOTICE := "!!!!! BROWSER TESTS NOT RUN: $(CHROMIUM) is missing. Install Debian's chromium (sudo apt-get install chromium) to run them. !!!!!"

.PHONY: demo test bench lint setup clean-demo

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3.11, python3.12 or python3.13)"; exit 1; }
	@echo "Setting up $(VENV) with $(PYTHON)…"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	@$(PY) scripts/demo.py

test: $(STAMP)
	@if [ -x $(CHROMIUM) ]; then \
		NODE_DATA_DIR=var/test $(PY) -m pytest $(XDIST) $(PYTEST_ARGS); \
	else \
		echo $(NO_BROWSER_NOTICE); \
		NODE_DATA_DIR=var/test $(PY) -m pytest $(XDIST) -m "not browser" $(PYTEST_ARGS); rc=$$?; \
		echo $(NO_BROWSER_NOTICE); \
		exit $$rc; \
	fi

bench: $(STAMP)
	@$(PY) bench/run.py

lint: $(STAMP)
	@failed=""; \
	echo "== ruff check"; $(VENV)/bin/ruff check . || failed="$$failed ruff-check"; \
	echo "== ruff format --check"; $(VENV)/bin/ruff format --check . || failed="$$failed ruff-format"; \
	echo "== mypy"; NODE_DATA_DIR=var/lint $(VENV)/bin/mypy . || failed="$$failed mypy"; \
	echo "== makemigrations --check"; \
	NODE_DATA_DIR=var/lint $(PY) manage.py makemigrations --check --dry-run || failed="$$failed makemigrations"; \
	if [ -n "$$failed" ]; then echo "lint FAILED:$$failed"; exit 1; fi; \
	echo "lint passed"

clean-demo:
	rm -rf var/demo
