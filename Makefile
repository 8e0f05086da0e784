# Two commands do all set-up on a fresh machine (Python >= 3.11 and the package registries):
#   make demo   create .venv, install basesel, run the baseline on the embedded model -> docs/base-model-evaluation.md
#   make test   create .venv, install basesel + test tools, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.basesel-installed
DEMO_ARGS ?=
DEMO_OUT ?= runs/demo
DEMO_DOC ?= docs/base-model-evaluation.md
PYTEST_ARGS ?=

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# llama-cpp-python compiles from source once (~10 min on 2 cores); pip caches the wheel afterwards.
	# torch's CPU build first (a range left to pip alone takes the CUDA build, gigabytes of NVIDIA libraries);
	# a CUDA machine: `pip install 'basesel[finetune-gpu]'` instead (see README).
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The baseline's exit code is its decision (0 sufficient, 3 fine-tune, 4 full pipeline, 5 inconclusive,
# 6 nothing scored, 7 provisional (the embedded judge always is), 8 safety block); only 1 (error) and
# 2 (usage) fail the demo.
demo: $(STAMP)
	@$(BIN)/basesel baseline --model embedded --judge embedded --domain support --out $(DEMO_OUT) --doc $(DEMO_DOC) $(DEMO_ARGS); \
	rc=$$?; if [ $$rc -eq 1 ] || [ $$rc -eq 2 ]; then exit $$rc; fi; \
	echo "baseline decision exit code $$rc; read $(DEMO_DOC)"

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_baseline.py

clean:
	rm -rf $(VENV) runs .pytest_cache
