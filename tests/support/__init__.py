"""What the test modules share: fixtures (registered as a pytest plugin from
tests/conftest.py), message builders, settings for a fresh store, and the real
peers tests talk to (SMTP relay, Dovecot, PostgreSQL, DNS stub, Chromium).

Test modules import from here and never from one another; ruff's banned-api
rule (TID251, configured in pyproject.toml) refuses imports of any test module
(tests.mail, tests.threads, tests.bridge, tests.web).
"""
