"""The application: settings, CLI, the ingestion pipeline, routing, and the serve process."""

# The one place the version is written: pyproject.toml reads it from here, and
# `bridge --version` prints it without looking through the installed packages.
__version__ = "0.1.0"
