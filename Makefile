# Two commands for a fresh machine with Python 3.11-3.14 + venv:  `make run`  and  `make test`.
# The interpreter: python3.11 (what CI tests) when installed, else python3 when it is 3.11-3.14
# (Ubuntu 24.04 ships 3.12, Debian 13 3.13). `make PY=python3.12 run` picks one explicitly.
PY ?= $(shell for p in python3.11 python3; do $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 15))' >/dev/null 2>&1 && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-screen lint venv clean-venv
venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { test -n "$(PY)" || { echo "make: needs Python 3.11-3.14 as python3.11 or python3 (sudo apt-get install python3 python3-venv)" >&2; exit 1; }; \
	  $(PY) -m venv $(VENV) || { rm -rf $(VENV); echo "make: '$(PY) -m venv' failed: install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv)" >&2; exit 1; }; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# Build the shipped model's ONNX graphs into the user's cache now, not at the first start.
	-$(BIN)/python -c 'from model.inference import Predictor; Predictor()'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python main.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# The suite runs in PYTEST_WORKERS pytest-xdist workers (2: CI's cores; ADR 0037); the screen
# layer stays in one of them. `make test PYTEST_WORKERS=0` runs everything in one process.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The screen-level layer alone: the real app on its own Xvfb, screen pixels vs the files.
test-screen: $(STAMP)
	$(BIN)/python -m pytest -q tests/screen $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
