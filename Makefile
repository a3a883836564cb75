# Homeline: `make run` serves the embedded demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime-installed
TESTDEPS := $(VENV)/.test-installed
NODE := web_client/node_modules/.package-lock.json

.PHONY: run install test lint fuzz bench clean

run: $(RUNTIME) $(NODE)
	$(VENV)/bin/homeline serve --prepare

install: $(RUNTIME) $(NODE)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

$(TESTDEPS): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[test]"
	touch $@ $(RUNTIME)

$(NODE): web_client/package.json web_client/package-lock.json
	cd web_client && npm ci --no-audit --no-fund --loglevel=error

# ruff, mypy (strict), and the floor plan's import contracts (pyproject.toml [tool.importlinter]).
lint: $(TESTDEPS)
	$(VENV)/bin/ruff check server signaling media moderation web_client tests bench
	$(VENV)/bin/ruff format --check server signaling media moderation web_client tests bench
	$(VENV)/bin/mypy server signaling media moderation web_client
	$(VENV)/bin/lint-imports --no-cache

test: $(TESTDEPS) $(NODE) lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Schemathesis over the whole OpenAPI document against a real server, as nobody, a family, a
# resident and staff (fixed seed and budget: a few minutes). `--help` for its options.
fuzz: $(TESTDEPS)
	$(PY) -m tests.fuzz.run_schemathesis $(FUZZ_ARGS)

bench: $(TESTDEPS)
	$(PY) -m bench.signin
	$(PY) -m bench.messages

clean:
	rm -rf $(VENV) web_client/node_modules .mypy_cache .ruff_cache .pytest_cache
