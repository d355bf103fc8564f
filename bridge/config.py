"""Each area's frozen view of the settings: what the pipeline, consent mail, sender
checks, the SMTP listener, the relay and the IMAP pollers read.

`Settings` (bridge/settings.py) is the one place values come from; its properties
`pipeline`, `consent`, `sender_trust`, `smtp`, `transport` and `imap` build these
views, and each consumer takes its area's view when it is made (once per process:
bridge/core.py, bridge/serve.py). A view's fields carry the names of the
settings they come from, and `_view` fills them by name: nothing copies settings
fields by hand, and no view has defaults of its own. Only what a view derives
(sets, the links' base URL, the SMTP limits) is written out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mail.smtp.limits import Limits

if TYPE_CHECKING:  # settings.py imports this module; the builders only read its fields
    from bridge.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConsentConfig:
    """What consent nudges, their links and their reply tokens need."""

    secret_key: str
    mail_domain: str
    # The base of links we mail: BRIDGE_PUBLIC_URL, else the web listener.
    public_url: str
    trusted_authserv_ids: frozenset[str]
    nudge_daily_cap: int
    consent_link_days: int
    consent_openers: str
    org_domains: frozenset[str]


@dataclass(frozen=True, slots=True)
class SenderTrustConfig:
    """How senders are authenticated (bridge/pipeline/sender_trust.py)."""

    verify_senders: str
    trusted_authserv_ids: frozenset[str]
    trusted_arc_sealers: frozenset[str]
    # BRIDGE_DNS_SERVERS ("host[:port]"; empty: the system's resolv.conf).
    dns_servers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What the pipeline's steps and rules read (bridge/pipeline/)."""

    attachments_dir: Path
    mail_domain: str
    # Sensitivity labels (RFC 2156 Sensitivity, Microsoft Purview label names)
    # that may be published, and those never published; a label in neither is
    # judged by its name (mail/classify.py label_verdict). Lower-cased.
    publishable_labels: frozenset[str]
    confidential_labels: frozenset[str]
    confidential_subject_tags: tuple[str, ...]
    # Reply tokens (bridge/pipeline/replies.py): the signing key, and the receiving
    # servers whose Authentication-Results are trusted.
    secret_key: str
    trusted_authserv_ids: frozenset[str]
    # Attachments over these are listed with a note but not written (the raw bytes keep them).
    attachment_max_bytes: int
    message_attachments_max_bytes: int
    # For the communities' posting policies (threads/access.py) and the consent
    # routes' cc threshold (threads/consent.py).
    org_domains: frozenset[str]
    # Links and tokens in the mail the pipeline queues (the "opened" notice, nudges).
    public_url: str
    reply_token_days: int
    consent: ConsentConfig
    parse_workers: int
    parse_timeout: float


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """The SMTP listener `bridge serve` starts (mail/smtp/listener.py)."""

    smtp_host: str
    smtp_port: int
    # The name in our greeting, and the domain of the bridge's own reply addresses.
    mail_domain: str
    secret_key: str
    limits: Limits
    smtp_tls_cert: str
    smtp_tls_key: str
    smtp_auth_users: str


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Where outbound mail goes: a relay, or the outbox Maildir when `smtp_relay` is empty."""

    smtp_relay: str
    smtp_relay_tls: str
    smtp_relay_user: str
    smtp_relay_password: str
    smtp_relay_timeout: float
    smtp_relay_ca_file: str
    mail_domain: str  # our EHLO name
    outbox_dir: Path


@dataclass(frozen=True, slots=True)
class ImapConfig:
    """What every IMAP poller shares (bridge/pollers.py); each folder's own row is in the store."""

    imap_poll_seconds: float
    imap_idle_seconds: float
    imap_lease_seconds: float
    imap_backoff_max_seconds: float
    imap_ca_file: str


def _view(cls: Callable[..., T], s: Settings, **derived: object) -> T:
    """`cls` filled from the settings of the same names, and `derived` for the rest."""
    names = [f.name for f in fields(cast(Any, cls))]  # every view is a dataclass
    return cls(**{name: derived[name] if name in derived else getattr(s, name) for name in names})


def consent_config(s: Settings) -> ConsentConfig:
    return _view(
        ConsentConfig,
        s,
        public_url=s.web_base_url,
        trusted_authserv_ids=frozenset(s.trusted_authserv_ids),
        org_domains=frozenset(s.org_domains),
    )


def sender_trust_config(s: Settings) -> SenderTrustConfig:
    return _view(
        SenderTrustConfig,
        s,
        trusted_authserv_ids=frozenset(s.trusted_authserv_ids),
        trusted_arc_sealers=frozenset(s.trusted_arc_sealers),
        dns_servers=tuple(s.dns_servers),
    )


def pipeline_config(s: Settings) -> PipelineConfig:
    return _view(
        PipelineConfig,
        s,
        publishable_labels=frozenset(label.lower() for label in s.publishable_labels),
        confidential_labels=frozenset(label.lower() for label in s.confidential_labels),
        confidential_subject_tags=tuple(s.confidential_subject_tags),
        trusted_authserv_ids=frozenset(s.trusted_authserv_ids),
        org_domains=frozenset(s.org_domains),
        public_url=s.web_base_url,  # absolute links even without BRIDGE_PUBLIC_URL
        consent=consent_config(s),
    )


def listener_config(s: Settings) -> ListenerConfig:
    limits = Limits(
        max_size=s.smtp_max_size,
        max_recipients=s.smtp_max_recipients,
        max_line_length=s.smtp_max_line_length,
        idle_timeout=s.smtp_idle_timeout,
        data_timeout=s.smtp_data_timeout,
        max_connections=s.smtp_max_connections,
        max_per_client=s.smtp_max_per_client,
        rate_per_minute=s.smtp_rate_limit,
    )
    return _view(ListenerConfig, s, limits=limits)


def transport_config(s: Settings) -> TransportConfig:
    return _view(TransportConfig, s)


def imap_config(s: Settings) -> ImapConfig:
    return _view(ImapConfig, s)
