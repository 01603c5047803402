# RadLens set-up and everyday commands. `make run` and `make test` are the two commands in the
# README: each creates .venv when needed (torch first, then the rest) and is safe to re-run.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 7860

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test lint typecheck check bench clean help

help:
	@echo "make run    - set up and start RadLens with the demo study on http://127.0.0.1:$(PORT)"
	@echo "make test   - set up (with test extras) and run the whole test suite"
	@echo "make check  - ruff and mypy"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "RadLens needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: $(BIN)/python scripts/install_torch.sh
	sh scripts/install_torch.sh $(BIN)/python
	@touch $@

$(VENV)/.app: $(VENV)/.torch pyproject.toml
	$(BIN)/python -m pip install -e .
	@touch $@

$(VENV)/.test: $(VENV)/.app $(VENV)/.chromium pyproject.toml
	$(BIN)/python -m pip install -e '.[test]'
	@touch $@

# The browser tests drive Debian's Chromium through Playwright, which never downloads one;
# the PDF tests render pages with poppler's pdftoppm/pdftotext. The stamp is remade whenever
# one of these programs has gone missing since it was written.
CHROMIUM     := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
PDFTOPPM     := /usr/bin/pdftoppm
ifneq ($(words $(wildcard $(CHROMIUM) $(CHROMEDRIVER) $(PDFTOPPM))),3)
.PHONY: $(VENV)/.chromium
endif
$(VENV)/.chromium: | $(BIN)/python
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ] && [ -x $(PDFTOPPM) ]; then :; \
	elif ! command -v apt-get >/dev/null; then \
		echo "make test: install chromium, chromium-driver and poppler-utils" >&2; \
		exit 1; \
	else \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y \
			chromium chromium-driver poppler-utils; \
	fi
	@touch $@

run: $(VENV)/.app
	$(BIN)/radlens serve --port $(PORT)

test: $(VENV)/.test
	$(BIN)/python -m pytest

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.test
	$(BIN)/mypy

check: lint typecheck

bench: $(VENV)/.test
	$(BIN)/python -m pip install -e '.[test,bench]'
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
