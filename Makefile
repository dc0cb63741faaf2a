# Two entry points (see README): `make demo` runs the whole pipeline on the embedded demo
# corpus; `make test` runs the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# CPU machines: take the local CPU build of torch first so no multi-GB CUDA build is pulled.
	@if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lensforge pipeline

# Two workers, tests handed out one at a time (the slow ones first: see tests/conftest.py), so both cores
# stay busy to the end: 24 min 20 s -> 14 min 37 s for the suite on a 2-core machine.
test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q -n 2 --dist load --maxschedchunk 1

lint: $(STAMP)
	$(BIN)/ruff check lensforge tests bench tools
	$(BIN)/ruff format --check lensforge tests bench tools

clean:
	rm -rf $(VENV) lensforge-workspace
