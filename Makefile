# One command per chore. CI runs `make test` as it is.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install serve test test-fast lint format bench bench-server bench-sdk bench-flagd bench-regex bench-dashboard bench-abuse screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the package's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

# The server on SQLite (vexil.db here) with a demo project; Ctrl-C stops it.
serve: install
	$(BIN)/vexil serve --demo

# mypy runs once per test directory: each has a conftest.py, and modules share that name.
lint: install
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples
	$(BIN)/mypy src
	MYPYPATH=src:tests $(BIN)/mypy --strict tests/*.py
	@set -e; for dir in tests/*/; do \
		[ -n "$$(find $$dir -name '*.py' -print -quit)" ] || continue; \
		echo "mypy $$dir"; \
		MYPYPATH=src:tests:$$dir $(BIN)/mypy --strict $$dir; \
	done

# The whole suite: what CI runs.
test: lint
	$(BIN)/pytest

# Everything but PostgreSQL, the browser and the slow tests: under two minutes.
test-fast: install
	$(BIN)/pytest -m "not postgres and not browser and not slow"

format: install
	$(BIN)/ruff check --fix src tests bench scripts examples
	$(BIN)/ruff format src tests bench scripts examples

$(VENV)/.bench-installed: pyproject.toml | $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/engine.py

# Needs wrk (Debian package) for request rates; installed here when missing and root.
bench-server: $(VENV)/.bench-installed
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; }
	$(BIN)/python bench/server.py

# The SDK's client against the bare engine and LaunchDarkly, through a real server.
bench-sdk: $(VENV)/.bench-installed
	$(BIN)/python bench/sdk.py

# flagd's flag format against Vexil's own on the same workload (core install only).
bench-flagd: $(VENV)/.installed
	$(BIN)/python bench/flagd.py

# Hostile regular expressions through the engine, beside Python's re (core install only).
bench-regex: $(VENV)/.installed
	$(BIN)/python bench/regex.py

# The dashboard's flag list with 10,000 flags, through a real server.
bench-dashboard: $(VENV)/.installed
	$(BIN)/python bench/dashboard.py

# Hostile clients on loopback (ReDoS, body and password floods, slow readers, slowloris):
# the server's memory and /healthz latency during each.
bench-abuse: $(VENV)/.bench-installed
	$(BIN)/python bench/abuse.py

# Screenshots of the dashboard, light and dark, into docs/screenshots/ (needs Chromium).
screenshots: install
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
