# The two commands a new user needs (see README.md):
#   make demo   set up, then run the q1–q8 demo on generated data
#   make test   set up, then run the test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,jobqueue]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python -m benchmarks.demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) demo-output data
