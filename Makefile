# One venv for everything here: the Pulumi program, the embedded stack, the tools and the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test demo bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements/dev.txt requirements/recognizer.txt requirements/export.txt requirements/nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/nodeps.txt
	touch $(STAMP)

# The test command (README and .ci/run run exactly this).
test: setup
	$(PY) -m pytest

# The README's first command: sample faces → enrolled database → videos through the local stack.
# Any folder and database instead (names are meaningless with the untrained stand-in weights):
#   make demo VIDEOS=../shared/data/cse546/test_case_2 DB=../shared/data/cse546/data.pt DEMO_FLAGS="--expect course"
VIDEOS     ?=
DB         ?=
DEMO_FLAGS ?=
demo: setup
	$(PY) -m local demo $(if $(VIDEOS),--videos $(VIDEOS)) $(if $(DB),--db $(DB)) $(DEMO_FLAGS)

# Per-function latency, cold start, memory, and both wirings end to end; figures in out/bench/.
# The course workload: make bench BENCH_FLAGS="--videos ../shared/data/cse546/test_case_2 --db ../shared/data/cse546/data.pt --expect course --repeat 1"
BENCH_FLAGS ?=
bench: setup
	$(PY) -m bench $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) build out .pytest_cache
