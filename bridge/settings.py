"""One typed `Settings` object: built from flags, `BRIDGE_*` variables and `bridge.toml`.

Precedence, highest first: command-line flags, environment, `bridge.toml`
(in the working directory, or the file named by `BRIDGE_CONFIG`), defaults.
The settings are passed explicitly to whatever needs them; nothing reads a
module global. Every field is documented in docs/settings.md (a test checks).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridge import config

if TYPE_CHECKING:
    from mail.oauth import OAuthClient


class OAuthSetting(BaseModel):
    """A folder's OAuth2 client (`[imap_folders.oauth]`): the keys of `route add --oauth-*`."""

    provider: Literal["generic", "microsoft", "google"] = "generic"
    token_url: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    scope: str = ""
    tenant: str = ""
    certificate_file: str = ""
    service_account_file: str = ""

    def client(self) -> OAuthClient:
        from mail.oauth import oauth_client

        return oauth_client(
            self.provider,
            token_url=self.token_url,
            client_id=self.client_id,
            secret_env=self.client_secret_env,
            scope=self.scope,
            tenant=self.tenant,
            certificate_file=self.certificate_file,
            service_account_file=self.service_account_file,
        )

    @model_validator(mode="after")
    def _check(self) -> OAuthSetting:
        self.client()  # ValueError names what is missing; none of these keys is a secret
        return self


class ImapFolderSetting(BaseModel):
    """One mailbox folder polled into a community (`[[imap_folders]]` in bridge.toml)."""

    community: str
    url: str
    password_env: str = ""
    secret_file: str = ""
    # OAuth2: the bridge fetches its own tokens (for imaps://USER;AUTH=XOAUTH2@HOST/...).
    oauth: OAuthSetting | None = None
    after: str = "leave"
    # A connected mailbox is someone's inbox: its threads wait for consent unless "open".
    policy: Literal["open", "consent"] = "consent"
    cc_threshold: int = Field(default=0, ge=0, le=1000)

    @model_validator(mode="after")
    def _check(self) -> ImapFolderSetting:
        from mail.imap import parse_after_action

        # The URL is checked when the imap role starts (bridge/pollers.py), not here:
        # pydantic's errors echo their input, and a mistyped URL may hold a password.
        parse_after_action(self.after)
        named = bool(self.password_env) + bool(self.secret_file) + (self.oauth is not None)
        if named != 1:
            raise ValueError(f"{self.url}: give exactly one of password_env, secret_file or oauth")
        return self


class Settings(BaseSettings):
    """Everything an operator can set."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    data: Path = Field(default=Path("var"), description="Data directory.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means DATA/bridge.sqlite3 (WAL)."
    )
    org_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Organisation mail domains (comma-separated)."
    )
    mail_domain: str = Field(
        default="bridge.localhost", description="The bridge's own domain for reply/bounce mail."
    )
    public_url: str = Field(default="", description="Base of every link we mail.")
    secret_key: str = Field(default="", description="Signing key; generated into DATA if empty.")
    publishable_labels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["normal", "general", "public"],
        description=(
            "Sensitivity labels published without a moderator (comma-separated); other"
            " labels are judged by their names (mail/classify.py label_verdict)."
        ),
    )
    confidential_labels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "personal",
            "private",
            "company-confidential",
            "confidential",
            "highly confidential",
        ],
        description="Sensitivity labels that are never published; only an admin releases them.",
    )
    confidential_subject_tags: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["[confidential]", "[private]"],
        description="Subject tags that mark mail confidential (comma-separated).",
    )
    consent_openers: str = Field(
        default="starter",
        pattern="^(starter|participants)$",
        description="Who may open a candidate thread: its starter, or any participant.",
    )
    nudge_daily_cap: int = Field(
        default=3, ge=0, description="Most consent nudges one person gets per 24 hours."
    )
    consent_link_days: int = Field(
        default=14, gt=0, description="Days a nudge's open / keep-private links work."
    )
    withdrawn_raw_days: int = Field(
        default=30,
        ge=0,
        description="Days the raw bytes of a withdrawn message are kept; then erased.",
    )
    claim_seconds: int = Field(
        default=30,
        ge=3,
        description=(
            "A worker's or sender's lease on what it claimed; renewed every third of it "
            "while the holder lives, so another takes over this long after a crash."
        ),
    )
    worker_batch: int = Field(
        default=100, description="Messages a pipeline worker claims at a time."
    )
    parse_timeout: float = Field(
        default=30, gt=0, description="Seconds one message may take to parse; then it is held."
    )
    parse_workers: int = Field(
        default=2, ge=0, description="Child processes that parse mail; 0 parses inline, unbounded."
    )
    attachment_max_bytes: int = Field(
        default=25 * 1024 * 1024, ge=0, description="Largest attachment written to the store."
    )
    message_attachments_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=0, description="Most attachment bytes stored per message."
    )
    smtp_relay: str = Field(default="", description="Outbound relay; empty means DATA/outbox.")
    smtp_relay_tls: str = Field(
        default="auto",
        pattern="^(auto|starttls|tls|none)$",
        description="Relay TLS: auto (STARTTLS if offered), starttls (required), tls, none.",
    )
    smtp_relay_user: str = Field(default="", description="Relay AUTH user; empty: no AUTH.")
    smtp_relay_password: str = Field(default="", description="Relay AUTH password.")
    smtp_relay_timeout: float = Field(
        default=60, gt=0, description="Seconds the sender waits on the relay per step."
    )
    smtp_relay_ca_file: str = Field(
        default="", description="CA certificates for the relay's TLS; empty: the system's."
    )
    outbound_retry_seconds: float = Field(
        default=60, gt=0, description="First wait before retrying a deferred delivery (doubles)."
    )
    outbound_retry_max_seconds: float = Field(
        default=3600, gt=0, description="Longest wait between delivery attempts."
    )
    outbound_give_up_hours: float = Field(
        default=48, gt=0, description="Hours after which undelivered mail is given up."
    )
    outbound_attachments_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=0,
        description="Attach a message's files to mailed copies up to this total; else link.",
    )
    sender_poll_seconds: float = Field(
        default=5, gt=0, description="Seconds between the outbound sender's rounds."
    )
    reply_token_days: int = Field(
        default=180, gt=0, description="Days a reply address in mailed notifications works."
    )
    bounce_limit: int = Field(
        default=3, gt=0, description="Hard bounces after which mail to an address stops."
    )
    trusted_authserv_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Authentication-Results authserv-ids whose DKIM/SPF/DMARC verdict is trusted.",
    )
    verify_senders: Literal["auto", "trusted", "off"] = Field(
        default="auto",
        description="Sender authentication: auto (trusted results, else DKIM/SPF/DMARC here), "
        "trusted (trusted results only) or off (unsafe: From lines are believed).",
    )
    trusted_arc_sealers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Domains whose valid ARC seal counts as authentication (lists, gateways).",
    )
    dns_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="DNS servers for sender checks (host or host:port); empty: resolv.conf.",
    )
    dkim_selector: str = Field(
        default="",
        description="DKIM selector to sign outgoing mail with (key in DATA/dkim); empty: unsigned.",
    )
    dkim_domain: str = Field(
        default="", description="Domain DKIM signatures are made for (d=); empty: the mail domain."
    )
    mismatch_notice_hours: float = Field(
        default=24, gt=0, description="At most one forged-reply warning per owner in this time."
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP listener address.")
    smtp_port: int = Field(default=8025, description="SMTP listener port.")
    smtp_max_size: int = Field(default=25 * 1024 * 1024, description="Largest message accepted.")
    smtp_max_recipients: int = Field(
        default=100, ge=100, description="Recipients per message (RFC 5321 asks for 100)."
    )
    smtp_max_line_length: int = Field(
        default=1000, ge=1000, description="Longest DATA line in octets, CRLF included."
    )
    smtp_idle_timeout: float = Field(
        default=300, gt=0, description="Seconds of client silence before the listener hangs up."
    )
    smtp_data_timeout: float = Field(
        default=600, gt=0, description="Seconds one DATA transfer may take in all."
    )
    smtp_max_connections: int = Field(default=100, gt=0, description="Concurrent SMTP sessions.")
    smtp_max_per_client: int = Field(
        default=10, ge=0, description="Concurrent SMTP sessions from one client address; 0: any."
    )
    smtp_rate_limit: int = Field(
        default=600, ge=0, description="Messages per minute per client address; 0: no limit."
    )
    smtp_tls_cert: str = Field(default="", description="Certificate chain (PEM) for STARTTLS.")
    smtp_tls_key: str = Field(default="", description="Private key (PEM) for STARTTLS.")
    smtp_auth_users: str = Field(
        default="", description="user:scrypt-hash pairs (or a file of them) for relay AUTH."
    )
    web_host: str = Field(default="127.0.0.1", description="Web listener address.")
    web_port: int = Field(default=8000, description="Web listener port.")
    web_processes: int = Field(
        default=1, ge=1, le=64, description="Processes serving the web app on the one port."
    )
    web_threads: int = Field(
        default=2, ge=1, le=64, description="Requests one web process works on at once."
    )
    metrics_token: str = Field(
        default="",
        description="Bearer token for /metrics; empty: only direct loopback clients may read it.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text, or as JSON objects one per line."
    )
    login_link_minutes: int = Field(
        default=15, gt=0, le=1440, description="How long a mailed login link works."
    )
    session_hours: int = Field(
        default=336, gt=0, description="How long a web login lasts before the next magic link."
    )
    oidc_issuer: str = Field(default="", description="OpenID Connect issuer URL; empty: no SSO.")
    oidc_client_id: str = Field(default="", description="OpenID Connect client id.")
    oidc_client_secret: str = Field(default="", description="OpenID Connect client secret.")
    oidc_label: str = Field(
        default="single sign-on", description="What the login page calls the SSO button."
    )
    imap_folders: list[ImapFolderSetting] = Field(
        default_factory=list, description="IMAP folders to poll, besides `bridge route add --imap`."
    )
    imap_poll_seconds: float = Field(
        default=60, gt=0, description="Seconds between polls of a server without IDLE."
    )
    imap_idle_seconds: float = Field(
        default=300, gt=0, le=1740, description="Longest IDLE before it is re-issued."
    )
    imap_lease_seconds: float = Field(
        default=60, gt=0, description="A poller's lease on a folder; a dead holder's runs out."
    )
    imap_backoff_max_seconds: float = Field(
        default=300, gt=0, description="Longest wait between reconnection attempts."
    )
    imap_ca_file: str = Field(
        default="", description="CA certificates for IMAP TLS; empty means the system's."
    )

    @field_validator(
        "org_domains",
        "publishable_labels",
        "confidential_labels",
        "confidential_subject_tags",
        "trusted_authserv_ids",
        "trusted_arc_sealers",
        "dns_servers",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [d.strip().lower() for d in value.split(",") if d.strip()]
        return value

    @field_validator("dkim_selector", "dkim_domain")
    @classmethod
    def _dns_name(cls, value: str, info: Any) -> str:
        from mail.dns_names import valid_domain, valid_selector

        value = value.strip().lower().rstrip(".")
        check = valid_selector if info.field_name == "dkim_selector" else valid_domain
        if value and not check(value):
            raise ValueError("not a DNS name (letters, digits and hyphens, dot-separated)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("BRIDGE_CONFIG", "bridge.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data / 'bridge.sqlite3'}"

    @property
    def attachments_dir(self) -> Path:
        return self.data / "attachments"

    @property
    def web_base_url(self) -> str:
        """The base of links we mail: the public URL, else the listener; never a Host header."""
        return (self.public_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def effective_dkim_domain(self) -> str:
        return self.dkim_domain or self.mail_domain

    @property
    def dkim_dir(self) -> Path:
        return self.data / "dkim"

    @property
    def outbox_dir(self) -> Path:
        return self.data / "outbox"

    # Each area's frozen view (bridge/config.py), built on each access from the fields
    # above: a copy (`model_copy`) or the secret key set by `load_settings` is never
    # stale. Consumers take their view once, when they are made.

    @property
    def pipeline(self) -> config.PipelineConfig:
        return config.pipeline_config(self)

    @property
    def consent(self) -> config.ConsentConfig:
        return config.consent_config(self)

    @property
    def sender_trust(self) -> config.SenderTrustConfig:
        return config.sender_trust_config(self)

    @property
    def smtp(self) -> config.ListenerConfig:
        return config.listener_config(self)

    @property
    def transport(self) -> config.TransportConfig:
        return config.transport_config(self)

    @property
    def imap(self) -> config.ImapConfig:
        return config.imap_config(self)


def load_settings(**overrides: Any) -> Settings:
    """Settings with flag overrides (None means 'not given'), secret key ensured."""
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    settings.data.mkdir(parents=True, exist_ok=True)
    if not settings.secret_key:
        settings.secret_key = _stored_secret(settings.data)
    return settings


def _stored_secret(data: Path) -> str:
    """The key generated into the data directory on first start, kept across restarts."""
    path = data / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
