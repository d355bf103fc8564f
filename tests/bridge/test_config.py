"""Each area's view of the settings (bridge/config.py): built from the one Settings, never stale."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from bridge.config import (
    ConsentConfig,
    ImapConfig,
    ListenerConfig,
    PipelineConfig,
    SenderTrustConfig,
    TransportConfig,
)
from bridge.settings import Settings

VIEWS = ("pipeline", "consent", "sender_trust", "smtp", "transport", "imap")


def test_every_view_field_comes_from_a_setting_of_its_name_or_is_derived() -> None:
    """No view invents a value: a field is a Settings field or property of the same name,
    or one of the few derived ones (sets, the links' base, limits, the consent view)."""
    derived = {"public_url", "limits", "consent"}
    settings = Settings()
    for cls in (
        PipelineConfig,
        ConsentConfig,
        SenderTrustConfig,
        ListenerConfig,
        TransportConfig,
        ImapConfig,
    ):
        for f in fields(cls):
            assert f.name in derived or hasattr(settings, f.name), (cls.__name__, f.name)


def test_views_carry_the_values_given(tmp_path: Path) -> None:
    """Values set on Settings arrive in each area, normalised where the area needs it."""
    s = Settings(
        data=tmp_path,
        mail_domain="bridge.example",
        public_url="https://bridge.example/",
        org_domains="Org.Example",
        publishable_labels="Public, General",
        nudge_daily_cap=7,
        smtp_port=2525,
        smtp_rate_limit=9,
        smtp_relay="relay.example:587",
        imap_poll_seconds=12,
        verify_senders="trusted",
        dns_servers="127.0.0.1:5353",
    )
    assert s.pipeline.publishable_labels == frozenset({"public", "general"})
    assert s.pipeline.org_domains == frozenset({"org.example"})
    assert s.pipeline.attachments_dir == tmp_path / "attachments"
    assert s.pipeline.public_url == s.consent.public_url == "https://bridge.example"
    assert s.pipeline.consent == s.consent
    assert s.consent.nudge_daily_cap == 7
    assert (s.smtp.smtp_port, s.smtp.limits.rate_per_minute) == (2525, 9)
    assert s.smtp.mail_domain == s.transport.mail_domain == "bridge.example"
    assert s.transport.smtp_relay == "relay.example:587"
    assert s.transport.outbox_dir == tmp_path / "outbox"
    assert s.imap.imap_poll_seconds == 12
    assert s.sender_trust.verify_senders == "trusted"
    assert s.sender_trust.dns_servers == ("127.0.0.1:5353",)


def test_a_copy_of_the_settings_gives_fresh_views(tmp_path: Path) -> None:
    """`bridge serve --demo` changes a copy's sender checks; its views must say so."""
    s = Settings(data=tmp_path, verify_senders="auto")
    assert s.sender_trust.verify_senders == "auto"
    copy = s.model_copy(update={"verify_senders": "trusted"})
    assert copy.sender_trust.verify_senders == "trusted"
    s.secret_key = "set-after-construction"  # as load_settings does
    assert s.pipeline.secret_key == s.consent.secret_key == s.smtp.secret_key


def test_views_are_frozen(tmp_path: Path) -> None:
    """A consumer cannot change what another consumer reads."""
    s = Settings(data=tmp_path)
    for name in VIEWS:
        view = getattr(s, name)
        with pytest.raises(FrozenInstanceError):
            setattr(view, fields(view)[0].name, None)
