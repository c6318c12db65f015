"""Commands a user runs against any stack, deployed or local: enroll, workload, grade."""
