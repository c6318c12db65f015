"""Pulumi ComponentResources for the pipeline, and the plain-Python settings they are built from."""
