# keywell — the README's two commands (`make run`, `make test`) set everything up.
# `make run` installs what the development server needs (keywell[server,cli,client]);
# `make test` installs the rest (keywell[all,dev], which includes the docs tools).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | sha256sum | cut -c1-16)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)

.PHONY: run test lint typecheck pytest docs docs-serve bench sim sysdeps clean

# System packages the suite needs: HAProxy in front of the simulation's replicas,
# curl for the documentation's shell examples, SoftHSM2 for the PKCS#11 custody,
# Chromium for the console's browser tests. Installed from Debian's packages when missing.
sysdeps:
	@command -v softhsm2-util >/dev/null 2>&1 || \
		{ echo "installing softhsm2"; apt-get update -qq && apt-get install -y -qq softhsm2 >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || \
		{ echo "installing chromium"; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || \
		{ echo "installing haproxy"; apt-get update -qq && apt-get install -y -qq haproxy >/dev/null; }
	@command -v curl >/dev/null 2>&1 || \
		{ echo "installing curl"; apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The server, the CLI and the remote-JWKS client: what `make run` and the
# README's first steps (`keywell token verify --jwks URL`) use, nothing more.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[server,cli,client]'
	rm -f $(VENV)/.installed-run-*
	touch $(RUN_STAMP)

# Everything: all extras, the test, lint and type-check tools, the docs tools.
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[all,dev]'
	rm -f $(VENV)/.installed-test-* $(VENV)/.installed-run-*
	touch $(TEST_STAMP) $(RUN_STAMP)

## make run: the main job (see README).
run: $(RUN_STAMP)
	$(BIN)/python -m keywell.server.devrun

## make test: lint, type-check, the documentation site (strict) and the whole test suite.
test: lint typecheck docs pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench sim docs examples
	$(BIN)/ruff format --check src tests bench sim docs examples

typecheck: $(TEST_STAMP)
	$(BIN)/mypy --strict src/keywell

pytest: $(TEST_STAMP) sysdeps
	$(BIN)/pytest

## make docs: the documentation site in site/ (a broken link or a warning fails it).
docs: $(TEST_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## make docs-serve: the documentation site at http://127.0.0.1:8000 with live reload.
docs-serve: $(TEST_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: $(TEST_STAMP)
	command -v wrk >/dev/null && command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk nginx)
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/remote.py
	$(BIN)/python bench/issuer.py
	$(BIN)/python bench/server.py

## make sim: the full multi-replica rotation simulation (see sim/README.md);
## make sim CUSTODY=transit keeps the set's keys in Transit on an OpenBao dev server.
CUSTODY ?= db
sim: $(TEST_STAMP) sysdeps
	$(BIN)/python sim/rotation.py --duration 150 --custody $(CUSTODY)

clean:
	rm -rf $(VENV) site .mypy_cache .pytest_cache .ruff_cache .hypothesis
