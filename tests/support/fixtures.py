"""The suite's shared fixtures, registered as a pytest plugin by tests/conftest.py:
a core on a temporary data directory, a DNS stub, a recording relay, a Dovecot, a TLS
certificate for loopback, and the PostgreSQL cluster's shutdown at the end of the session."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.core import Core, open_core
from tests.support.backend import DATABASES
from tests.support.cli import BridgeCli
from tests.support.dnsstub import DNSStub
from tests.support.dovecot import Dovecot
from tests.support.env import settings_for
from tests.support.net import free_port
from tests.support.relay import RelayHandler
from tests.support.schema import templates_for_cores


@pytest.fixture(scope="session", autouse=True)
def _databases() -> Iterator[None]:
    with templates_for_cores():  # tests/support/schema.py
        yield
    DATABASES.close()


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(settings_for(tmp_path / "data"))
    yield c
    c.close()


@pytest.fixture
def bridge_cli(tmp_path: Path) -> BridgeCli:
    """`bridge` as a subprocess on a fresh store (tests/support/cli.py)."""
    return BridgeCli(tmp_path)


@pytest.fixture
def dns_stub() -> Iterator[DNSStub]:
    """A DNS server on loopback (tests/support/dnsstub.py): publish records, count queries."""
    with DNSStub() as stub:
        yield stub


@pytest.fixture
def recording_relay() -> Iterator[tuple[int, RelayHandler]]:
    """An aiosmtpd relay on a free loopback port (tests/support/relay.py): (port, handler)."""
    from aiosmtpd.controller import Controller

    handler = RelayHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler
    controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=test"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    yield server
    server.close()
