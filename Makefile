# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint validate bench venv tools clean

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
# The vendor validators are required here: a missing one fails its tests instead of skipping them.
test: lint validate tools
	KAMAL_SIEM_REQUIRE_TOOLS=1 $(BIN)/python -m pytest

# The vendors' validators, each in its own environment under .tools/ (never the project's venv):
# splunk-appinspect (pins old libraries), npm: Splunk's dashboard schema, the Elasticsearch client's API types with TypeScript, and Elastic's ES|QL
# analyzer (Python >= 3.12: `python3.12` on the PATH, else pyenv's; set PY312 to choose).
TOOLS := .tools
PY312 ?= $(firstword $(shell command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys' 2>/dev/null && echo python3.12) $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(wildcard /usr/bin/python3.1[2-9]))
tools: $(TOOLS)/appinspect/.ok $(TOOLS)/node/.ok $(TOOLS)/esql/.ok

$(TOOLS)/appinspect/.ok: tools/appinspect-constraints.txt
	rm -rf $(TOOLS)/appinspect
	$(PYTHON) -m venv $(TOOLS)/appinspect
	$(TOOLS)/appinspect/bin/python -m pip install --quiet -c tools/appinspect-constraints.txt splunk-appinspect
	@touch $@

$(TOOLS)/node/.ok: tools/package.json tools/package-lock.json
	rm -rf $(TOOLS)/node && mkdir -p $(TOOLS)/node
	cp tools/package.json tools/package-lock.json $(TOOLS)/node/
	cd $(TOOLS)/node && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(TOOLS)/esql/.ok: tools/esql-requirements.txt
	@test -n "$(PY312)" || { echo "the ES|QL analyzer needs Python >= 3.12: set PY312=/path/to/python3.12"; exit 1; }
	rm -rf $(TOOLS)/esql
	$(PY312) -m venv $(TOOLS)/esql
	$(TOOLS)/esql/bin/python -m pip install --quiet -r tools/esql-requirements.txt
	@touch $@

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
	rm -rf $(VENV) $(TOOLS) dist .pytest_cache .hypothesis
