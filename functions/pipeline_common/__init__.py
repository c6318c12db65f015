"""Code both Lambda functions ship with: S3 event parsing, key naming, structured logging, and the
largest frame the pipeline accepts (`limits`).

Plain Python with no third-party imports, so it costs nothing at cold start.
"""
