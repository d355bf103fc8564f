"""Each area's frozen view of the settings: what the pipeline, consent mail, sender
checks, the SMTP listener, the relay and the IMAP pollers read.

`Settings` (bridge/settings.py) is the one place values come from; its properties
`pipeline`, `consent`, `sender_trust`, `smtp`, `transport` and `imap` build these
views, and each consumer takes its area's view when it is made (once per process:
bridge/core.py, bridge/serve.py). Nothing copies settings fields anywhere else,
and no view has defaults of its own: a value always comes from `Settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mail.smtp.limits import Limits

if TYPE_CHECKING:  # settings.py imports this module; the builders only read its fields
    from bridge.settings import Settings


@dataclass(frozen=True, slots=True)
class ConsentConfig:
    """What consent nudges, their links and their reply tokens need."""

    secret_key: str
    mail_domain: str
    # The base of links we mail: BRIDGE_PUBLIC_URL, else the web listener.
    public_url: str
    trusted_authserv_ids: frozenset[str]
    daily_cap: int
    link_days: int
    openers: str
    org_domains: frozenset[str]


@dataclass(frozen=True, slots=True)
class SenderTrustConfig:
    """How senders are authenticated (bridge/pipeline/sender_trust.py)."""

    mode: str
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

    host: str
    port: int
    # The name in our greeting, and the domain of the bridge's own reply addresses.
    mail_domain: str
    secret_key: str
    limits: Limits
    tls_cert: str
    tls_key: str
    auth_users: str


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Where outbound mail goes: a relay, or the outbox Maildir when `relay` is empty."""

    relay: str
    tls: str
    user: str
    password: str
    timeout: float
    ca_file: str
    local_hostname: str
    outbox_dir: Path


@dataclass(frozen=True, slots=True)
class ImapConfig:
    """What every IMAP poller shares (bridge/pollers.py); each folder's own row is in the store."""

    poll_seconds: float
    idle_seconds: float
    lease_seconds: float
    backoff_max_seconds: float
    ca_file: str


def consent_config(s: Settings) -> ConsentConfig:
    return ConsentConfig(
        secret_key=s.secret_key,
        mail_domain=s.mail_domain,
        public_url=s.web_base_url,
        trusted_authserv_ids=frozenset(s.trusted_authserv_ids),
        daily_cap=s.nudge_daily_cap,
        link_days=s.consent_link_days,
        openers=s.consent_openers,
        org_domains=frozenset(s.org_domains),
    )


def sender_trust_config(s: Settings) -> SenderTrustConfig:
    return SenderTrustConfig(
        mode=s.verify_senders,
        trusted_authserv_ids=frozenset(s.trusted_authserv_ids),
        trusted_arc_sealers=frozenset(s.trusted_arc_sealers),
        dns_servers=tuple(s.dns_servers),
    )


def pipeline_config(s: Settings) -> PipelineConfig:
    return PipelineConfig(
        attachments_dir=s.attachments_dir,
        mail_domain=s.mail_domain,
        publishable_labels=frozenset(label.lower() for label in s.publishable_labels),
        confidential_labels=frozenset(label.lower() for label in s.confidential_labels),
        confidential_subject_tags=tuple(s.confidential_subject_tags),
        secret_key=s.secret_key,
        trusted_authserv_ids=frozenset(s.trusted_authserv_ids),
        attachment_max_bytes=s.attachment_max_bytes,
        message_attachments_max_bytes=s.message_attachments_max_bytes,
        org_domains=frozenset(s.org_domains),
        public_url=s.web_base_url,  # absolute links even without BRIDGE_PUBLIC_URL
        reply_token_days=s.reply_token_days,
        consent=consent_config(s),
        parse_workers=s.parse_workers,
        parse_timeout=s.parse_timeout,
    )


def listener_config(s: Settings) -> ListenerConfig:
    return ListenerConfig(
        host=s.smtp_host,
        port=s.smtp_port,
        mail_domain=s.mail_domain,
        secret_key=s.secret_key,
        limits=Limits(
            max_size=s.smtp_max_size,
            max_recipients=s.smtp_max_recipients,
            max_line_length=s.smtp_max_line_length,
            idle_timeout=s.smtp_idle_timeout,
            data_timeout=s.smtp_data_timeout,
            max_connections=s.smtp_max_connections,
            max_per_client=s.smtp_max_per_client,
            rate_per_minute=s.smtp_rate_limit,
        ),
        tls_cert=s.smtp_tls_cert,
        tls_key=s.smtp_tls_key,
        auth_users=s.smtp_auth_users,
    )


def transport_config(s: Settings) -> TransportConfig:
    return TransportConfig(
        relay=s.smtp_relay,
        tls=s.smtp_relay_tls,
        user=s.smtp_relay_user,
        password=s.smtp_relay_password,
        timeout=s.smtp_relay_timeout,
        ca_file=s.smtp_relay_ca_file,
        local_hostname=s.mail_domain,
        outbox_dir=s.outbox_dir,
    )


def imap_config(s: Settings) -> ImapConfig:
    return ImapConfig(
        poll_seconds=s.imap_poll_seconds,
        idle_seconds=s.imap_idle_seconds,
        lease_seconds=s.imap_lease_seconds,
        backoff_max_seconds=s.imap_backoff_max_seconds,
        ca_file=s.imap_ca_file,
    )
