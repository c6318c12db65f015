"""A static HTML report of who appears when: a library page (index.html) of every video and person,
and a page per video (lanes of who appears when, or the first frame with its face's box), with each
range's best face. Plain files that open from disk and load nothing from another host.

    python -m tools.report --out DIR [--outputs FILE | --stack Pulumi.dev.yaml ...]
    python -m local run --videos DIR --analysis timeline --html DIR
"""
