PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench-sync clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

## run: the product with embedded Redis, SQLite and the sandbox GitHub on http://127.0.0.1:8000/
run: $(VENV)/.installed
	$(PY) -m project.devrun

## test: the whole suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set)
test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
