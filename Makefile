# Scène Commune — every target sets itself up (venv + pinned requirements) on first use.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

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
	@NODE_DATA_DIR=var/test $(PY) -m pytest

bench: $(STAMP)
	@$(PY) bench/run.py

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@NODE_DATA_DIR=var/lint $(VENV)/bin/mypy .
	@NODE_DATA_DIR=var/lint $(PY) manage.py makemigrations --check --dry-run

clean-demo:
	rm -rf var/demo
