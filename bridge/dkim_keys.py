"""The bridge's DKIM keys: where they live, making one, and the signer the settings ask for.

A key is a file `DATA/dkim/SELECTOR._domainkey.DOMAIN.pem` (the name says
where its public half must be published), created with mode 0600 in a 0700
directory and never overwritten unless asked. Signing is on when
`dkim_selector` is set; then the key must be there and usable, or the sender
refuses to start: mail silently going out unsigned would fail DMARC at the
receivers the operator turned signing on for. Nothing here logs or prints the
private key; errors name the file, not its content.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import ConfigError
from bridge.settings import Settings
from mail.errors import SigningKeyError
from mail.signing import (
    DkimSigner,
    generate_key,
    public_record,
    record_name,
    valid_domain,
    valid_selector,
)


def key_path(settings: Settings, selector: str, domain: str) -> Path:
    return settings.dkim_dir / f"{record_name(selector, domain)}.pem"


@dataclass(frozen=True, slots=True)
class NewKey:
    path: Path
    record_name: str
    record: str


def keygen(settings: Settings, selector: str, domain: str, *, force: bool = False) -> NewKey:
    """Write a new RSA 2048 key for `selector`/`domain`; the TXT record to publish."""
    if not valid_selector(selector):
        raise ConfigError(f"selector {selector!r} is not a DNS label")
    if not valid_domain(domain):
        raise ConfigError(f"domain {domain!r} is not a DNS name")
    path = key_path(settings, selector, domain)
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; a new key needs a new selector (or --force)")
    settings.dkim_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = generate_key()
    # Written beside and renamed over: a reader never sees half a key, and the
    # file is 0600 from its first byte (no window with the umask's mode).
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return NewKey(path, record_name(selector, domain), public_record(pem))


def too_open(path: Path) -> bool:
    """Whether others than the owner may read or write the key file."""
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def signer_for(settings: Settings) -> DkimSigner | None:
    """The signer the settings ask for (None when signing is off); ConfigError when the
    key cannot be used, naming the file and what to do."""
    selector = settings.dkim_selector
    if not selector:
        return None
    domain = settings.effective_dkim_domain
    path = key_path(settings, selector, domain)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"DKIM key {path} is missing: run `bridge dkim keygen --selector {selector} "
            f"--domain {domain}` and publish its record, or unset BRIDGE_DKIM_SELECTOR"
        ) from None
    except OSError as exc:
        raise ConfigError(f"DKIM key {path} cannot be read: {exc.strerror}") from None
    try:
        return DkimSigner(selector, domain, pem)
    except SigningKeyError as exc:
        raise ConfigError(f"DKIM key {path}: {exc}") from None
