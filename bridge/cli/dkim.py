"""`bridge dkim`: make a DKIM signing key and show the DNS record that publishes it.

Prints only the public half: the private key stays in its 0600 file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from bridge.errors import UsageError

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.settings import Settings

_DATA = click.option(
    "--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA)."
)
_SELECTOR = click.option(
    "--selector", help="Selector (default BRIDGE_DKIM_SELECTOR, else today's date: s20261206)."
)
_DOMAIN = click.option(
    "--domain", help="Signing domain (default BRIDGE_DKIM_DOMAIN or mail domain)."
)


@click.group()
def dkim() -> None:
    """DKIM signing keys for outgoing mail (docs/outbound.md: signing and key rotation)."""


def _names(settings: Settings, selector: str | None, domain: str | None) -> tuple[str, str]:
    from datetime import date

    chosen = (selector or settings.dkim_selector or f"s{date.today():%Y%m%d}").strip().lower()
    return chosen, (domain or settings.effective_dkim_domain).strip().lower().rstrip(".")


def _print_record(name: str, record: str) -> None:
    click.echo(f"Publish this TXT record:\n  name:  {name}\n  value: {record}")


@dkim.command("keygen")
@_DATA
@_SELECTOR
@_DOMAIN
@click.option("--force", is_flag=True, help="Replace an existing key of that selector.")
def keygen_(data: Path | None, selector: str | None, domain: str | None, force: bool) -> None:
    """Write a new RSA 2048 key under DATA/dkim/ (mode 0600) and print its DNS record."""
    from bridge.dkim_keys import keygen
    from bridge.settings import load_settings

    settings = load_settings(data=data)
    chosen, signing_domain = _names(settings, selector, domain)
    key = keygen(settings, chosen, signing_domain, force=force)
    click.echo(f"Wrote {key.path}")
    _print_record(key.record_name, key.record)
    if settings.dkim_selector != chosen:
        click.echo(f"Then sign with it: BRIDGE_DKIM_SELECTOR={chosen}", err=True)


@dkim.command("record")
@_DATA
@_SELECTOR
@_DOMAIN
def record(data: Path | None, selector: str | None, domain: str | None) -> None:
    """Print the DNS record of an existing key (the one in use by default)."""
    from bridge.dkim_keys import key_path
    from bridge.settings import load_settings
    from mail.errors import SigningKeyError
    from mail.signing import public_record, record_name

    settings = load_settings(data=data)
    chosen, signing_domain = _names(settings, selector, domain)
    path = key_path(settings, chosen, signing_domain)
    try:
        value = public_record(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    except SigningKeyError as exc:
        raise UsageError(f"{path}: {exc}") from None
    _print_record(record_name(chosen, signing_domain), value)
