"""The benchmark: `make bench` (python -m bench). Figures are printed and saved, never asserted."""
