"""The archive domain's exceptions, one small tree under `ThreadsError`.

threads/ imports nothing of bridge/, so it raises these and bridge/errors.py
draws them beside its own; the boundaries translate them (web/errors.py,
bridge/cli/errors.py). Neither reaches the SMTP listener: mail is stored raw
before the domain sees it.

The whole tree, these two included, is drawn once in bridge/errors.py's docstring.
"""

from __future__ import annotations


class ThreadsError(Exception):
    """Base of every error threads/ raises on purpose; anything else from it is a bug."""


class InvalidAddress(ThreadsError, ValueError):
    """Raised by threads/people.py `normalize_email` for text that is not an address a
    person can have; str(self) says what is wrong.

    Most callers use `try_normalize` (None instead); bridge/admin.py turns it into a
    UsageError for forms and commands; a boundary that meets it answers bad input
    (HTTP 400, CLI one line and status 1).
    """


class DuplicateMessage(ThreadsError):
    """Raised by threads/store.py `file_letter` when the community already holds a
    message with this Message-ID.

    The pipeline catches it: a duplicate is a success with state `duplicate`, not an
    error. A boundary that meets it answers a conflict (HTTP 409).
    """
