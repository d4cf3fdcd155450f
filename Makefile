# Two commands on a fresh machine with Python 3.11 and make:
#   make demo   - the main job, on the embedded default (SQLite, local hosts)
#   make test   - ruff, mypy and the whole suite
#   make diagrams - regenerate docs/architecture/ and the README's diagram from the model
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench diagrams graphviz fuzz fuzz-snp fuzz-dcap clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/elsewhere demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	PYTHONPATH=src $(BIN)/lint-imports
	$(BIN)/vulture

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Debian's graphviz provides dot, which lays out the SVGs (the PyPI package only writes DOT).
APT_GRAPHVIZ := apt-get install -y --no-install-recommends graphviz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

graphviz:
	@command -v dot >/dev/null 2>&1 || $(SUDO) $(APT_GRAPHVIZ) \
	  || { $(SUDO) apt-get update && $(SUDO) $(APT_GRAPHVIZ); }

diagrams: $(STAMP) graphviz
	$(BIN)/elsewhere diagram publish --readme README.md --dir docs/architecture

# Long coverage-guided runs (atheris) over the evidence parsers and verifiers; FUZZ_SECONDS
# per target (300 by default). Crashes land in the temporary corpus directory each prints.
FUZZ_SECONDS ?= 300
fuzz: fuzz-snp fuzz-dcap
fuzz-snp: $(STAMP)
	$(BIN)/python fuzz/snp_report.py -max_total_time=$(FUZZ_SECONDS)
fuzz-dcap: $(STAMP)
	$(BIN)/python fuzz/dcap_quote.py -max_total_time=$(FUZZ_SECONDS) -timeout=10

clean:
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .pytest_cache .ruff_cache

