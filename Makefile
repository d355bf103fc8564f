# Commons Bridge: `make run` and `make test` work on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: run test lint bench deps-test clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/bridge serve --demo

# Debian packages the tests use (skipped when already present or not root).
deps-test:
	@bash .ci/debian-packages

test: $(STAMP) deps-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py --messages 10000 --seed 1
	$(BIN)/python bench/parse.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
