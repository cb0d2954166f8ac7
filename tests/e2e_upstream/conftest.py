"""The vendored upstream tests are not collected by this suite's own pytest run:
tests/sandbox/test_upstream_client_e2e.py runs them against a sandbox in a child pytest."""

collect_ignore = ["kubernetes"]
