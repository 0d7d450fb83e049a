# Two commands set everything up on a fresh machine:
#   make run    set up, then a real search on the embedded default (studies/quickstart.toml)
#   make test   set up, then the whole test suite (what CI runs)
#   make test-fast    the tests that need no Ray (no search runs: minutes less)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# The CPU build of torch is installed first, pinned, so that installing the project (whose
# range it satisfies) never pulls a CUDA build from the registry on a CPU-only machine.
TORCH  ?= torch==2.13.0
STAMP   = $(VENV)/.hpbench-installed

.PHONY: setup run test test-fast golden reference bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	# bytecode for the editable package too (pip compiles only what it copies): every Ray worker
	# and helper process imports hpbench, and environments with PYTHONDONTWRITEBYTECODE never cache it
	$(BIN)/python -m compileall -q hpbench
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hpbench search studies/quickstart.toml

# TEST_WORKERS=2: the suite on 2 pytest-xdist workers, the Ray and slow tests all on one (tests/conftest.py
# groups them), the other tests spread over both. 0 (the default, one process) until parallel runs are
# shown reliable (3 clean runs; session 10 had none complete under load).
TEST_WORKERS ?= 0

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

# Ray tests are marked slow (real searches) or ray (they use the ray_local fixture: tests/conftest.py)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not ray"

# rewrite the expected report outputs (tests/golden/) from the current code; read the diff before committing
golden: $(STAMP)
	$(BIN)/python -m pytest tests/test_report_golden.py --update-golden

# regenerate docs/study-reference.md from the key tables and registries (tests/test_catalog.py fails when it drifts)
reference: $(STAMP)
	$(BIN)/hpbench schema --markdown --builtin > docs/study-reference.md

bench: $(STAMP)
	$(BIN)/python benchmarks/dispatch.py
	$(BIN)/python benchmarks/trainer.py
	$(BIN)/python benchmarks/cost_model.py
	$(BIN)/python benchmarks/eta.py
	$(BIN)/python benchmarks/data.py  # writes and deletes a 4 GiB file; --gib 0.25 for a quick run

lint: $(STAMP)
	$(BIN)/ruff check hpbench tests benchmarks examples
	$(BIN)/mypy hpbench

clean:
	rm -rf $(VENV) results/quickstart
