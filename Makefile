# graphsync: every target creates what it needs, so a fresh clone only needs Python 3.11 and pip.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
SDK_VENV := .venv-sdk
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SDK_STAMP := $(SDK_VENV)/.installed

.PHONY: install demo test lint bench sdk-venv serve dagster clean

install: $(STAMP)

# uv resolves and installs in seconds where pip takes a minute; pip remains the fallback.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv || true
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'; \
	else $(BIN)/python -m pip install -q -e '.[dev]'; fi
	# Byte-compile once: machines here set PYTHONDONTWRITEBYTECODE, so otherwise every command
	# would recompile its imports (about 1.5 s per start).
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $(STAMP)

# Microsoft's own SDK in a venv of its own: the simulator must satisfy a client nobody here wrote.
sdk-venv: $(SDK_STAMP)
$(SDK_STAMP): $(STAMP)
	$(PYTHON) -m venv $(SDK_VENV)
	$(BIN)/uv pip install -q --python $(SDK_VENV)/bin/python msgraph-sdk trustme || \
		$(SDK_VENV)/bin/python -m pip install -q msgraph-sdk trustme
	touch $(SDK_STAMP)

demo: $(STAMP)
	$(BIN)/graphsync demo

# The report test opens `graphsync report`'s page in Debian's headless chromium: a fresh machine gets it
# here (sudo when not root). GRAPHSYNC_SKIP_BROWSER=1 skips that test instead, where nothing can be installed.
test: $(STAMP) $(SDK_STAMP)
	command -v chromium >/dev/null || [ "$$GRAPHSYNC_SKIP_BROWSER" = 1 ] || { SUDO=$$([ "$$(id -u)" = 0 ] || command -v sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	$(BIN)/ruff check .
	GRAPHSYNC_SDK_PYTHON=$(CURDIR)/$(SDK_VENV)/bin/python $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev,bench]'; \
	else $(BIN)/python -m pip install -q -e '.[dev,bench]'; fi
	touch $(BENCH_STAMP)

# The full benchmark (~5 min on 2 cores); `$(BIN)/python -m bench --quick` checks the harness in seconds.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/graphsync simulator serve

clean:
	rm -rf $(VENV) $(SDK_VENV) .graphsync .pytest_cache

# Dagster's UI on http://127.0.0.1:3000 with this project's instance settings (dagster.yaml).
dagster: $(STAMP)
	mkdir -p .dagster_home && cp dagster.yaml .dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home env --default-signal=INT,TERM $(BIN)/dagster dev -m pipelines.definitions
