# `make run` and `make test` work on a fresh machine with Python 3.11: each creates .venv
# and installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format clean

$(STAMP): requirements.txt requirements-dev.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# make run scores real faces from the shared data folder of the dev machines when it is there
# (the demo itself looks only where it is told: --data, $TFFLOWS_DATA, ./celeba32.npz).
CELEBA ?= ../shared/data/celeba32.npz

run: $(STAMP)
	$(PY) -m tfflows.cli demo --zoo glow_celeba --out out/glow_celeba.png $(if $(wildcard $(CELEBA)),--data $(CELEBA))

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest tests -q -n 2 --dist loadfile --durations=25

lint: $(STAMP)
	$(PY) -m ruff check .

format: $(STAMP)
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache *.egg-info
