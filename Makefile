# Two commands a newcomer needs: `make demo` and `make test`. Both install into .venv first when needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test unit integration bench bench-quick chaos lint clean

install: $(STAMP)

# Reinstall only when the project's dependency list changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/python -m demo

# Three workers on two cores: a test mostly waits (for the emulator, a connector process, a flush interval), so a
# third worker fills the waits. TEST_WORKERS=0 runs in one process (pytest-xdist's -n 0).
TEST_WORKERS ?= 3

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=15

unit: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) unit_tests

integration: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) integration_tests

bench: install
	$(BIN)/python bench/run.py

bench-quick: install
	$(BIN)/python bench/run.py --quick

chaos: install
	$(BIN)/python -m integration_tests.chaos --cycles 100

lint: install
	$(BIN)/ruff check destination_starrocks starrocks_emulator unit_tests integration_tests bench demo docs
	$(BIN)/ruff format --check destination_starrocks starrocks_emulator unit_tests integration_tests bench demo docs

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
