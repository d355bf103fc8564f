"""The composition root's building blocks: one `Core` per process wires settings to storage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from bridge.inbox import DatabaseInbox
from bridge.pipeline.parsepool import ParsePool
from bridge.pipeline.pipeline import Pipeline
from bridge.pipeline.sender_trust import SenderChecker
from bridge.pipeline.steps import Context
from bridge.settings import Settings
from threads.db import make_engine, migrate


@dataclass
class Core:
    settings: Settings
    engine: Engine
    pipeline: Pipeline
    inbox: DatabaseInbox

    def close(self) -> None:
        self.pipeline.close()
        self.engine.dispose()


def open_core(settings: Settings) -> Core:
    """Engine, schema brought up to date, and the pipeline; used by every command."""
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    context = Context(
        attachments_dir=settings.attachments_dir,
        mail_domain=settings.mail_domain,
        publishable_labels=frozenset(label.lower() for label in settings.publishable_labels),
        confidential_labels=frozenset(label.lower() for label in settings.confidential_labels),
        confidential_subject_tags=tuple(settings.confidential_subject_tags),
        secret_key=settings.secret_key,
        trusted_authserv_ids=frozenset(settings.trusted_authserv_ids),
        attachment_max_bytes=settings.attachment_max_bytes,
        message_attachments_max_bytes=settings.message_attachments_max_bytes,
        org_domains=frozenset(settings.org_domains),
        public_url=settings.web_base_url,  # absolute links even without BRIDGE_PUBLIC_URL
        reply_token_days=settings.reply_token_days,
        consent_openers=settings.consent_openers,
        nudge_daily_cap=settings.nudge_daily_cap,
        consent_link_days=settings.consent_link_days,
        senders=SenderChecker(
            settings.verify_senders,
            frozenset(settings.trusted_authserv_ids),
            frozenset(settings.trusted_arc_sealers),
            tuple(settings.dns_servers),
        ),
    )
    parser = ParsePool(workers=settings.parse_workers, timeout=settings.parse_timeout)
    return Core(settings, engine, Pipeline(engine, context, parser), DatabaseInbox(engine))
