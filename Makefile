# lichen: `make devnet` and `make test` work on a fresh machine with only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: devnet devnet-down test install clean bench-peer

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

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# The peer benchmark (issue 15): PySyncObj replicating a bare counter on 3 local processes with
# a journal on disk, to set beside `lichen bench` on the same machine. Not part of `make test`.
bench-peer: $(STAMP)
	$(BIN)/pip install --quiet 'pysyncobj==0.3.*'
	$(BIN)/python tests/bench/pysyncobj_counter.py --duration 20

clean:
	rm -rf $(VENV) .devnet build *.egg-info .pytest_cache .hypothesis
