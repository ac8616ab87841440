# keywell — the README's two commands (`make run`, `make test`) set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-16)

.PHONY: run test lint typecheck pytest bench sim sysdeps clean

# System packages the simulation (and its short run in the suite) needs: HAProxy
# in front of the replicas. Installed from Debian's packages when missing.
sysdeps:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || \
		{ echo "installing haproxy"; apt-get update -qq && apt-get install -y -qq haproxy >/dev/null; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[all,dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## make run: the main job (see README).
run: $(STAMP)
	$(BIN)/python -m keywell.server.devrun

## make test: lint, type-check and the whole test suite.
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench sim
	$(BIN)/ruff format --check src tests bench sim

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/keywell

pytest: $(STAMP) sysdeps
	$(BIN)/pytest

bench: $(STAMP)
	command -v wrk >/dev/null && command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk nginx)
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/remote.py
	$(BIN)/python bench/issuer.py
	$(BIN)/python bench/server.py

## make sim: the full multi-replica rotation simulation (see sim/README.md).
sim: $(STAMP) sysdeps
	$(BIN)/python sim/rotation.py --duration 150

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
