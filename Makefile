# Commons Bridge: `make run` and `make test` work on a fresh machine.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: run test lint bench deps-test clean translations

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

# The whole suite twice: on the embedded SQLite, then on a real PostgreSQL
# that the tests start themselves (tests/support/backend.py). Each run is spread
# over WORKERS processes (pytest-xdist), a test module staying in one process so
# its module fixtures are built once; each process has its own temporary
# directories, free ports and, on PostgreSQL, its own cluster.
WORKERS ?= 2
test: $(STAMP) deps-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# Peer projects' test mail (pinned, checksummed, cached in bench/out/peers):
	@# instant once cached; offline it warns and those tests skip.
	$(BIN)/python tests/support/peers.py fetch
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile
	BRIDGE_TEST_BACKEND=postgres $(BIN)/pytest -q -n $(WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The interface's strings: extract them from the code and templates into the
# template catalogue, carry new and changed ones into every language's .po (the
# translators' files), then check every catalogue is complete and compiles. The .po
# files are compiled in memory when the bridge starts (bridge/i18n.py): nothing else to build.
I18N    := bridge/translations
translations: $(STAMP)
	$(BIN)/pybabel extract -F $(I18N)/babel.cfg -k N_ --no-location --sort-output \
		--project "Commons Bridge" --copyright-holder "Commons Bridge" -o $(I18N)/messages.pot .
	$(BIN)/pybabel update -i $(I18N)/messages.pot -d $(I18N) --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pytest -q tests/bridge/test_catalogues.py

CORPUS  ?= ../shared/corpora/cgroups-vger-36k/cgroups.vger.kernel.org.mbox.xz

bench: $(STAMP)
	$(BIN)/python bench/ingest.py --messages 10000 --seed 1
	$(BIN)/python bench/ingest.py --messages 100000 --seed 1
	$(BIN)/python bench/smtp.py
	@if [ -f $(CORPUS) ]; then \
		$(BIN)/python bench/parse.py -n 5000 $(CORPUS); \
		$(BIN)/python bench/threading_f1.py $(CORPUS); \
	else echo "no corpus at $(CORPUS): skipping the real-mail benchmarks"; fi

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
