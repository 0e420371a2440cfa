# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ductplan-installed
OUT    ?= demo_output

.PHONY: demo test bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[web,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ductplan demo -o $(OUT)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# The browser tests drive headless Chromium: install Debian's when none is found
# (as root, as CI runs; otherwise through sudo when there is one).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	command -v google-chrome >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else \
	    echo "make: the browser tests need Chromium: apt-get install -y --no-install-recommends chromium (as root)" >&2; \
	    exit 1; fi; \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[web,test,bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) bench_output .pytest_cache
