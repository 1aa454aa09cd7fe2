# Chores. `make help` lists them.
PYTHON ?= .venv/bin/python
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: help install serve test test-postgres lint check bench bench-smoke lock

help:  ## list the chores
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install:  ## a virtual environment with the locked packages, the project (editable) and its test tools
	python3 -m venv .venv
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q --require-hashes --no-deps -r requirements.lock
	$(PYTHON) -m pip install -q --no-deps -e '.[test]'
	$(PYTHON) -m pip check

lock:  ## requirements.lock from pyproject.toml, with hashes (needs pip-tools: pip install pip-tools)
	pip-compile -q --extra test --strip-extras --generate-hashes --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	# The [test] extra names the project itself (for [postgres]): not a package to lock.
	sed -i -e '/^policyfacts @ /,/^[a-z]/{/^policyfacts @ /d;/^    #/d}' \
		-e '/^# WARNING: pip install will require/d' -e '/^# Consider using a hashable URL/d' \
		requirements.lock

serve:  ## serve on SQLite (migrates and seeds on first start)
	.venv/bin/policyfacts serve

test:  ## the suite on SQLite
	$(PYTHON) -m pytest

test-postgres:  ## the suite on PostgreSQL (PG_URL; it makes and drops its own database)
	POLICYFACTS_TEST_DATABASE_URL=$(PG_URL) $(PYTHON) -m pytest

lint:  ## ruff and mypy (strict on app/)
	$(PYTHON) -m ruff check app tests migrations bench
	$(PYTHON) -m ruff format --check app tests migrations bench
	$(PYTHON) -m mypy

check: lint test test-postgres  ## everything CI runs

bench:  ## the benchmark, ~20 min per database (needs wrk; BENCH_ARGS=--help; PostgreSQL with POLICYFACTS_BENCH_POSTGRES_URL)
	$(PYTHON) -m bench $(BENCH_ARGS)

bench-smoke:  ## the benchmark in a few seconds, to see that it still runs
	$(PYTHON) -m bench --smoke
