# One venv for everything here: the Pulumi program, the embedded stack, the tools and the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements/dev.txt requirements/recognizer.txt requirements/nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/nodeps.txt
	touch $(STAMP)

# The test command (README and .ci/run run exactly this).
test: setup
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build out .pytest_cache
