# One venv for everything here: the Pulumi program, the embedded stack, the tools, the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lint test test-fast demo bench plan clean

setup: $(STAMP)

# Pinned requirements first, then facenet-pytorch without its stale pins, then the project itself,
# editable: functions/ and the project's packages import from the working tree, no path edits.
$(STAMP): pyproject.toml requirements.txt requirements/dev.txt requirements/recognizer.txt requirements/export.txt requirements/nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements/nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# ruff (lint and format), then mypy over the project, the Pulumi program against pulumi-aws's typed inputs.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	# the function code against the Lambda runtimes' standard library (tests/infra/test_runtimes.py holds the versions)
	$(PY) -m mypy --python-version 3.13 functions/video_splitting functions/pipeline_common
	$(PY) -m mypy --python-version 3.12 functions/face_recognizer functions/pipeline_common

# The test command (README and .ci/run run exactly this): lint, then every test, one worker per core
# (pytest-xdist; a test file stays on one worker, so its module-scoped stack is started once).
test: lint
	$(PY) -m pytest -n auto --dist loadfile

# The inner loop: no lint, no tests marked slow (whole stacks, subprocesses, model loads).
test-fast: setup
	$(PY) -m pytest -m "not slow" -q -n auto --dist loadfile

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

# What the last bench's figures cost on AWS and how fast AWS drains 1k/100k/1M uploads (bench/plan.py):
#   make plan PLAN_FLAGS="--stack Pulumi.prod.yaml"
PLAN_FLAGS ?=
plan: setup
	$(PY) -m bench.plan $(PLAN_FLAGS)
	@# timeline, any length: a 1-hour and a 6-hour video, from a timeline run's per-segment figures (bench/timeline_plan.py)
	-$(PY) -m bench.timeline_plan $(if $(wildcard out/long/baseline.json),--baseline out/long/baseline.json) $(TIMELINE_PLAN_FLAGS)

clean:
	rm -rf $(VENV) build out .pytest_cache .mypy_cache .ruff_cache
