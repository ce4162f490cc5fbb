# The two commands a new user needs (see README.md):
#   make demo   set up, then run the q1–q8 demo on generated data
#   make test   set up, then ruff, mypy and the whole test suite
#   make test-fast   the suite without the tests marked slow (a few minutes)
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint setup clean

setup: $(STAMP)

# cctools (TaskVine, Work Queue) is built from ../shared/vendor into .venv when ndcctools is missing
$(STAMP): pyproject.toml tools/build_cctools.sh tools/cctools_patches.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,jobqueue,envs]'
	tools/build_cctools.sh $(VENV)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python -m benchmarks.demo

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest

# ruff on the library, tests and benchmarks, and the type checker on the library
# (config in pyproject.toml); part of `make test`
lint: $(STAMP)
	$(VENV)/bin/ruff check colframe tests benchmarks
	$(VENV)/bin/mypy

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) demo-output data
