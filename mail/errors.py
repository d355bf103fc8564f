"""The mail package's exceptions, one small tree under `MailError`.

mail/ imports nothing of bridge/, so it cannot raise the bridge's errors; it
raises these, and bridge/errors.py draws them beside its own. Each boundary
translates them in its one place: web/errors.py (HTTP), mail/smtp/replies.py
`reply_for` (SMTP), bridge/cli/errors.py (the command line).

The whole tree, this part included, is drawn once in bridge/errors.py's
docstring (mail/ may not import bridge/, but its documentation may point there).

InvalidInput and TokenError are also ValueErrors: pydantic turns a ValueError
raised in a settings validator into a validation error, and parsers' callers
written before this tree catch ValueError.
"""

from __future__ import annotations

from pathlib import Path


class MailError(Exception):
    """Base of every error mail/ raises on purpose; anything else from it is a bug."""


class InvalidInput(MailError, ValueError):
    """Raised by the parsers of operator text (mail/imap.py `parse_imap_url`,
    `parse_after_action`; mail/smtp/auth.py `load_auth_users`); str(self) says
    what is wrong and never repeats a password.

    Callers in bridge/ turn it into UsageError where a form needs one; the
    boundaries answer it as bad input: HTTP 400, CLI one line and status 1.
    """


class TokenError(MailError, ValueError):
    """A reply, consent, unsubscribe or bounce token that must not be acted on
    (mail/tokens.py); the message says why, for the admin log.

    The pipeline holds mail with such a token (bridge/pipeline/replies.py); the
    web answers a link with one 404 "not valid" (web/errors.py).
    """


class TokenMismatch(TokenError):
    """A genuine token used from another address than the one it was made for: its
    owner may want to know (the pipeline holds the mail as a forged reply)."""


class TokenExpired(TokenError):
    """A genuine token past its day: a page says "expired" (HTTP 410), not "invalid"."""


class BadArchive(MailError):
    """An archive that is not what its name says, is damaged, or holds no mail
    (mail/archive.py).

    str(self) is one line naming the file and what is wrong; `read` is how many
    whole messages were yielded from it before. `bridge import` reports it per
    path and exits 1 after importing the rest.
    """

    def __init__(self, path: Path, problem: str, read: int = 0) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.read = read


class LeaseLost(MailError):
    """Another process holds the folder now (or the lease store is unreachable): the
    IMAP poller stops reading that folder and tries to take it again later
    (mail/imap.py). It never reaches a person."""


class DNSTempError(MailError):
    """A DNS lookup that may succeed later: timeout, SERVFAIL, no server reachable
    (mail/sender_auth/dns.py). The sender checks record it as a temporary error
    in the verdict; it never reaches a person."""


class DmarcPermError(MailError):
    """The DMARC record(s) found cannot be used: several at one name, or no valid
    policy (mail/sender_auth/dmarc.py). Recorded as `permerror` in the verdict."""


class OAuthError(MailError):
    """An OAuth2 access token for a mailbox could not be had (mail/oauth.py): a secret
    not set, a key file unreadable, the token endpoint refusing or unreachable. str(self)
    is plain words, safe to log and show, and never holds a token, secret or assertion.

    The IMAP poller records it as the folder's state and retries with backoff;
    `bridge route test` prints it; the web shows it on the admin pages, never as a 500.
    """


class LoginRefused(MailError):
    """The IMAP server refused a login with an OAuth2 token (mail/imap.py); the poller
    drops the token, fetches a new one and says so in the folder's state."""


class SigningKeyError(MailError, ValueError):
    """A DKIM private key that cannot sign: unreadable, not a PEM RSA key, or too short
    (mail/signing.py). The bridge refuses to start with it (bridge/dkim_keys.py turns it
    into a ConfigError): mail is never sent unsigned because of a key problem."""


class UnsignableMessage(MailError, ValueError):
    """Bytes that are not a message DKIM can sign (a header line that is not a field);
    the sender marks that one queued copy failed with the reason."""
