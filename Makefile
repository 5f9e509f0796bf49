# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# CPU-only pin for torch (an unpinned torch pulls a multi-GB CUDA build). GPU machines: CONSTRAINTS=
CONSTRAINTS ?= constraints-cpu.txt
BIN := $(VENV)/bin
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)

.PHONY: demo test test-fast bench install clean

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(PIP_C) -e ".[test,ray,hf]"
	$(BIN)/python -m pip install -q $(PIP_C) --no-deps "keras-hub>=0.32,<0.33"  # pyproject.toml, extra hf: why --no-deps
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/twinbench run

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/harness_overhead.py
	$(BIN)/python benchmarks/default_run.py

clean:
	rm -rf $(VENV) runs build *.egg-info
