# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint validate bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kamal-siem needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# Set up, then run the main job on the bundled sample logs, and build the SIEM content into dist/.
demo: $(STAMP)
	$(BIN)/kamal-siem parse --format table samples/
	$(BIN)/kamal-siem parse --quiet samples/ > $(VENV)/demo-parse.ndjson
	@echo "NDJSON of every line: $(VENV)/demo-parse.ndjson"
	$(BIN)/kamal-siem hunt samples/ || test $$? -eq 1
	$(BIN)/kamal-siem build -o dist

# Install everything the tests need, then run them (static checks and rule validation first).
test: lint validate
	$(BIN)/python -m pytest

# Every rule, offline: schema, validators, ATT&CK, fields, conversions, replay cases (JUnit XML for CI).
validate: $(STAMP)
	@mkdir -p dist
	$(BIN)/kamal-siem validate --junitxml dist/validate-junit.xml

lint: $(STAMP)
	$(BIN)/ruff check converter tests
	$(BIN)/mypy converter

# The performance run of benchmarks/ (minutes; the corpora go to dist/bench/).
bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python hunt.py $(if $(BENCH_SIZES),--sizes $(BENCH_SIZES))
	$(BIN)/python benchmarks/build.py

clean:
	rm -rf $(VENV) dist .pytest_cache .hypothesis
