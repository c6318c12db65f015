# One venv for everything here: the Pulumi program, the embedded stack, the tools, the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lock lint test test-fast demo bench plan clean

setup: $(STAMP)

# From the hash lock of the whole dependency closure (requirements/lock/, made by `make lock` from the
# pins in requirements*.txt): pip refuses any file whose hash differs. Then facenet-pytorch without
# its stale pins (hashed too), then the project itself, editable: functions/ and the project's
# packages import from the working tree, no path edits.
# TORCH_INDEX=https://download.pytorch.org/whl/cpu (the GitHub workflows set it): torch and
# torchvision are the CPU build from that index, by export.txt's pins and not hash-checked (the lock
# is made where only PyPI is reached); everything else from the lock without them (dev-cpu.txt).
TORCH_INDEX ?=
PIP_INSTALL = $(PY) -m pip install --quiet --disable-pip-version-check
$(STAMP): pyproject.toml requirements/lock/dev.txt requirements/lock/dev-cpu.txt requirements/lock/nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
ifeq ($(TORCH_INDEX),)
	$(PIP_INSTALL) --require-hashes -r requirements/lock/dev.txt
else
	$(PIP_INSTALL) --require-hashes -r requirements/lock/dev-cpu.txt
	$(PIP_INSTALL) --no-deps --index-url $(TORCH_INDEX) -r requirements/export.txt
endif
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements/lock/nodeps.txt
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Regenerate the locks after editing a pin (tests/infra/test_locks.py fails until then). uv keeps
# every version the lock already has unless a pin moved; LOCK_FLAGS=--upgrade refreshes the rest.
# The venv (make setup): Python 3.11, Linux x86_64, torch from PyPI; dev-cpu.txt the same without
# torch, torchvision and their CUDA libraries (TORCH_INDEX above); deploy.txt the deploy workflows'
# Pulumi program. The image (Python 3.12, Amazon Linux 2023), held to the venv's versions (-c),
# which its tests run: the runtime stage's closure; the export stage's without torch, torchvision
# and their CUDA libraries (it takes the CPU build from PyTorch's index, which the lock cannot hash
# from here: docker/recognizer.Dockerfile). A lock file must exist before `make lock` (setup reads it).
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock" $(LOCK_FLAGS)
VENV_TARGET  = --python-version 3.11 --python-platform x86_64-manylinux_2_28
IMAGE_TARGET = --python-version 3.12 --python-platform x86_64-manylinux_2_28 -c requirements/lock/dev.txt
WITHOUT_TORCH = --excludes requirements/cuda-excludes.txt --no-emit-package torch --no-emit-package torchvision
LOCK_FLAGS ?=
lock: setup
	$(UV_COMPILE) $(VENV_TARGET) requirements/dev.txt -o requirements/lock/dev.txt
	$(UV_COMPILE) $(VENV_TARGET) -c requirements/lock/dev.txt $(WITHOUT_TORCH) requirements/dev.txt -o requirements/lock/dev-cpu.txt
	$(UV_COMPILE) $(VENV_TARGET) --no-deps requirements/nodeps.txt -o requirements/lock/nodeps.txt
	$(UV_COMPILE) $(VENV_TARGET) -c requirements/lock/dev.txt requirements.txt requirements/aws.txt -o requirements/lock/deploy.txt
	$(UV_COMPILE) $(IMAGE_TARGET) requirements/recognizer.txt -o requirements/lock/recognizer.txt
	$(UV_COMPILE) $(IMAGE_TARGET) $(WITHOUT_TORCH) requirements/export.txt -o requirements/lock/export.txt

# ruff (lint and format), then mypy over the project, the Pulumi program against pulumi-aws's typed inputs.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	# the function code against the Lambda runtimes' standard library (tests/infra/test_runtimes.py holds the versions)
	$(PY) -m mypy --python-version 3.13 functions/video_splitting functions/pipeline_common
	$(PY) -m mypy --python-version 3.12 functions/face_recognizer functions/pipeline_common

# The test command (README and .ci/run run exactly this): lint, then every test, one worker per core
# (pytest-xdist; a test file stays on one worker, so its module-scoped stack is started once, unless a
# test names a group of its own; the longest groups go first: tests/conftest.py).
XDIST := -n auto --dist loadgroup --no-loadscope-reorder
test: lint
	$(PY) -m pytest $(XDIST)

# The inner loop: no lint, no tests marked slow (whole stacks, subprocesses, model loads).
test-fast: setup
	$(PY) -m pytest -m "not slow" -q $(XDIST)

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
