# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The exact releases installed and tested (pyproject's lower bounds are these). CONSTRAINTS= drops them.
CONSTRAINTS ?= constraints-cpu.txt
# Extras: one of `cpu` / `gpu` (never both), plus the optional features. GPU machines: EXTRAS=gpu,load,ray,test,hf
EXTRAS ?= cpu,load,ray,test,hf
# A package index holding torch's CPU build. PyPI's Linux x86_64 torch is the CUDA build (several GB); on
# a stock machine without a GPU: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
BIN := $(VENV)/bin
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
PIP_TORCH := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

.PHONY: demo test test-fast bench install clean

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "twinbench needs Python 3.11 or newer (found " + sys.version.split()[0] + "); run make with PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(PIP_C) $(PIP_TORCH) -e ".[$(EXTRAS)]"
	$(if $(findstring hf,$(EXTRAS)),$(BIN)/python -m pip install -q $(PIP_C) --no-deps "keras-hub==0.32.0"  # extra hf: pyproject.toml says why --no-deps)
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
