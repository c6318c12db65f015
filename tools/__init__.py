"""Commands a user runs against any stack, deployed or local: enroll, workload, grade; and what the
image build runs (export_models). They import the functions' own code (key naming, event parsing,
the models), installed into the venv by `make setup`, so they judge uploads as the functions do."""

from components.setup_check import require_setup

require_setup(__name__)
