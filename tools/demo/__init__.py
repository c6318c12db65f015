"""Samples for demos and tests: videos and faces made from scikit-image's pictures."""
