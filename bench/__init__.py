"""The benchmark: `make bench` (python -m bench). Figures are printed and saved, never asserted."""

from components.setup_check import require_setup

require_setup(__name__)
