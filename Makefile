# AI Studio. `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-fast lint fmt migrate setup system-deps clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages the tests need (Chromium for browser tests, Tesseract for OCR); installed once.
system-deps:
	@bash scripts/system-deps.sh

demo: setup
	$(BIN)/aistudio demo

test: setup system-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q -n 2 --dist worksteal $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -x $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

fmt: setup
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

migrate: setup
	$(BIN)/aistudio migrate

bench: setup
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
