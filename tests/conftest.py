"""Shared fixtures live in tests/fixtures/*, one module per outside system."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.sandbox",
    "tests.fixtures.backends",
]
