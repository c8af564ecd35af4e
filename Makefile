# lichen: `make devnet` and `make test` work on a fresh machine with only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: devnet devnet-down test install clean bench-peer browser

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lichen needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

devnet: $(STAMP)
	$(BIN)/lichen devnet up --nodes 3
	$(BIN)/lichen devnet demo

devnet-down: $(STAMP)
	$(BIN)/lichen devnet down

# The dashboard's browser test drives Debian's Chromium (tests/test_dashboard_browser.py):
# installed here when it is missing and we run as root; otherwise that test fails saying so.
CHROMIUM := /usr/bin/chromium

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the dashboard's browser test (apt-get)"; \
		apt-get install -y -q chromium >/dev/null 2>&1 || \
			(apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) || \
			echo "could not install chromium; tests/test_dashboard_browser.py will fail"; \
	fi

# The peer benchmark (issue 15): PySyncObj replicating a bare counter on 3 local processes with
# a journal on disk, to set beside `lichen bench` on the same machine. Not part of `make test`.
bench-peer: $(STAMP)
	$(BIN)/pip install --quiet 'pysyncobj==0.3.*'
	$(BIN)/python tests/bench/pysyncobj_counter.py --duration 20

clean:
	rm -rf $(VENV) .devnet build *.egg-info .pytest_cache .hypothesis
