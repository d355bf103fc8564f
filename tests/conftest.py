"""Registers tests/support/fixtures.py as a plugin; shared helpers live in tests/support/."""

pytest_plugins = ["tests.support.fixtures"]
