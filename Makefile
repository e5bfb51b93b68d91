# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: run test test-fast test-slow test-soak test-poison test-reliability bench lint setup clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

## run: set up, migrate, load the demo store, start the web server and a worker (Ctrl-C stops both)
run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo
	$(BIN)/python manage.py serve

## test: set up and run the whole suite (PostgreSQL when DATABASE_URL is set, SQLite otherwise)
test: setup
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider -m "not slow and not browser" $(PYTEST_ARGS)

test-reliability: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests/reliability -m slow $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -p no:cacheprovider -m slow $(PYTEST_ARGS)

## test-soak: each accounting target's 500 postings under injected faults (about an hour; PostgreSQL)
test-soak: setup
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider -m soak $(PYTEST_ARGS)

## bench: the benchmarks at full size (BENCH_SCALE=small|full|<factor>; PostgreSQL when DATABASE_URL is set),
## one table of figures, baselines and ratios written to bench/results/<date>.md
## test-poison: the poison-event property with 1,000 hostile payloads for every source (issue 14)
test-poison: setup
	POISON_EXAMPLES=1000 $(BIN)/python -m pytest -n 2 -p no:cacheprovider -m slow tests/integrator/test_poison_events_property.py tests/integrator/test_poison_events_property_fetched.py $(PYTEST_ARGS)

bench: setup
	BENCH_SCALE=$${BENCH_SCALE:-full} BENCH_RESULTS=$${BENCH_RESULTS:-auto} $(BIN)/python -m pytest -p no:cacheprovider bench -m bench -s $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
