"""The embedded local stack: the pipeline's real function code on this machine, no AWS account needed.

S3 and SQS are a moto server on loopback, each Lambda function is a pool of warm worker processes,
and the triggers (S3 notifications, asynchronous retries, the dead-letter queue, Lambda's Invoke
API for direct invocation) behave like AWS's. Everything is made from components/settings.py and
components/topology.py, the same code the Pulumi program uses. Entry point: `python -m local`.
"""

from components.setup_check import require_setup

require_setup(__name__)
