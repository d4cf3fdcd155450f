# Two commands on a fresh machine with Python 3.11 and make:
#   make demo   - the main job, on the embedded default (SQLite, local hosts)
#   make test   - ruff, import contracts, vulture, mypy, the dependency audit and the whole suite
#   make diagrams - regenerate docs/architecture/ and the README's diagram from the model
#   make messages - extract the messages (src/elsewhere/locale/elsewhere.pot) and merge them
#                   into each language's .po; translate the new ones there (empty = missing)
#   make demo LANG=ja_JP.UTF-8 (or ELSEWHERE_LANG=ja) - the demo in Japanese
# Installs come from the lock files in requirements/ (exact versions and hashes): `make demo`
# installs only the runtime set, `make test` adds the dev tools. `make lock` refreshes them
# after a dependency changes in pyproject.toml (UPGRADE=1 to move every pin to the newest).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
# Locked and hashed: pip installs exactly these files, nothing resolved at install time.
PIP_LOCKED := $(BIN)/python -m pip install --require-hashes --no-deps --progress-bar on
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --quiet $(if $(UPGRADE),--upgrade)

.PHONY: demo demo-commons test lint typecheck audit bench faults lock diagrams graphviz chromium fuzz fuzz-snp fuzz-dcap fuzz-documents clean \
	messages compile-messages

# Message catalogues (Babel): .po files are committed, .mo files compiled here (git-ignored).
LOCALE := src/elsewhere/locale
PYBABEL := $(BIN)/pybabel
BABEL_EXTRACT := PYTHONPATH=src $(PYBABEL) extract -F babel.cfg -k N_ --no-location --sort-output --omit-header

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): $(RUNTIME_LOCK) pyproject.toml | $(BIN)/python
	@echo "== installing the runtime dependencies from $(RUNTIME_LOCK)"
	$(PIP_LOCKED) -r $(RUNTIME_LOCK)
	@echo "== installing elsewhere itself (editable)"
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "the lock misses a dependency of pyproject.toml: run make lock"; exit 1; }
	$(PYBABEL) compile --statistics -d $(LOCALE) -D elsewhere
	touch $@

# The .mo files again when a .po changed since the install (an editable checkout also
# compiles a missing or older .mo in memory: elsewhere/i18n.py).
compile-messages: $(RUNTIME)
	$(PYBABEL) compile --statistics -d $(LOCALE) -D elsewhere

messages: $(RUNTIME)
	$(BABEL_EXTRACT) -o $(LOCALE)/elsewhere.pot .
	$(PYBABEL) update -i $(LOCALE)/elsewhere.pot -d $(LOCALE) -D elsewhere \
	  --no-fuzzy-matching --ignore-obsolete --width 100

$(DEV): $(RUNTIME) $(DEV_LOCK)
	@echo "== installing the dev tools from $(DEV_LOCK)"
	$(PIP_LOCKED) -r $(DEV_LOCK)
	touch $@

demo: compile-messages
	$(BIN)/elsewhere demo

demo-commons: $(RUNTIME)
	$(BIN)/elsewhere demo commons

lint: $(DEV)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	PYTHONPATH=src $(BIN)/lint-imports
	$(BIN)/vulture

typecheck: $(DEV)
	$(BIN)/mypy

# Fails on a known vulnerability in a locked version; warns when the database is unreachable.
audit: $(DEV)
	$(BIN)/python tools/audit.py $(DEV_LOCK)

test: lint typecheck audit compile-messages
	$(BIN)/pytest -q

# bench/bench_*.py only: cluster.py and invariants.py are the fault campaign's helpers.
bench: $(DEV)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The bounded fault campaign (a few minutes): three replicas on a private PostgreSQL cluster
# (initdb in a temporary directory), kill -9, lease holder, PostgreSQL restart, SIGSTOP, and
# the SQLite default's disk filling up (a small tmpfs: needs root). tests/test_faults_short.py
# is its short version in `make test`.
faults: $(DEV)
	$(BIN)/python bench/faults.py

# uv from the dev lock, without installing the project: a lock that misses a new dependency
# must not stop its own refresh.
$(BIN)/uv: | $(BIN)/python
	$(PIP_LOCKED) -r $(DEV_LOCK)

# Needs the network (PyPI). Keeps existing pins unless UPGRADE=1.
lock: $(BIN)/uv
	$(UV_COMPILE) -o $(RUNTIME_LOCK)
	$(UV_COMPILE) --extra dev --extra charts -o $(DEV_LOCK)

# Debian's graphviz provides dot, which lays out the SVGs (the PyPI package only writes DOT);
# fonts-noto-cjk the Japanese glyphs: dot measures labels with the fonts it finds, so the
# committed Japanese diagrams (and the console's Japanese screenshots) are drawn with it.
APT_GRAPHVIZ := apt-get install -y --no-install-recommends graphviz fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

graphviz:
	@{ command -v dot && fc-list :lang=ja | grep -q .; } >/dev/null 2>&1 || $(SUDO) $(APT_GRAPHVIZ) \
	  || { $(SUDO) apt-get update && $(SUDO) $(APT_GRAPHVIZ); }

# Debian's chromium for the console's browser tests (Playwright drives it; it downloads no
# browser of its own), and npm, which installs axe-core at test time (tests/console_support.py).
APT_CHROMIUM := apt-get install -y --no-install-recommends chromium $(if $(shell command -v npm),,npm)

chromium:
	@command -v chromium >/dev/null 2>&1 || $(SUDO) $(APT_CHROMIUM) \
	  || { $(SUDO) apt-get update && $(SUDO) $(APT_CHROMIUM); }

diagrams: $(DEV) graphviz
	$(BIN)/elsewhere diagram publish --readme README.md --dir docs/architecture
	$(BIN)/elsewhere --lang ja diagram publish --readme README.ja.md --dir docs/ja/architecture

# Long coverage-guided runs (atheris) over the evidence parsers and verifiers; FUZZ_SECONDS
# per target (300 by default). Crashes land in the temporary corpus directory each prints.
FUZZ_SECONDS ?= 300
fuzz: fuzz-snp fuzz-dcap fuzz-documents
fuzz-snp: $(DEV)
	$(BIN)/python fuzz/snp_report.py -max_total_time=$(FUZZ_SECONDS)
fuzz-dcap: $(DEV)
	$(BIN)/python fuzz/dcap_quote.py -max_total_time=$(FUZZ_SECONDS) -timeout=10
fuzz-documents: $(DEV)
	$(BIN)/python fuzz/documents.py -max_total_time=$(FUZZ_SECONDS) -timeout=10

clean:
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .pytest_cache .ruff_cache

