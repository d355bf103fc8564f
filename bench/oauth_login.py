"""What a login costs with the bridge's own OAuth2 tokens, against a password login.

Starts tests/support/dovecot.py's Dovecot with its oauth2 passdb (JWTs validated
locally) and tests/support/token_endpoint.py's token endpoint on loopback, then
times, alternating the kinds round by round:
- password: connect, LOGIN, SELECT INBOX, LOGOUT (the ceiling);
- cached token: the same with XOAUTH2 and a token already in memory (every login
  until the token reaches 80 % of its life);
- fresh token, secret: a client-credentials request first (each token renewal);
- fresh token, certificate: an RS256 client assertion signed first (Entra ID);
- fresh token, service account: an RS256 JWT bearer assertion signed first (Google).
Prints the median and p90 per kind in milliseconds. A poller renews its token once
per token lifetime (an hour at Microsoft and Google), so these are per-hour costs.

    .venv/bin/python bench/oauth_login.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mail.imap import ImapUrl, PollerConfig, probe
from mail.oauth import TokenSource, oauth_client
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.token_endpoint import (
    Client,
    TokenEndpoint,
    certificate_client,
    service_account,
)

ENV = "BENCH_OAUTH_CLIENT"  # the variable the bench's client secret is put in


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("mail.imap").setLevel(logging.ERROR)  # the loopback plaintext warning
    endpoint = TokenEndpoint(dovecot_key=secrets.token_bytes(32), user=USER, lifetime=3600)
    dovecot = Dovecot(oauth_key=endpoint.dovecot_key)
    folder = Path(tempfile.mkdtemp(prefix="bench-oauth-"))
    try:
        client_secret = secrets.token_hex(16)
        endpoint.clients["app"] = Client("app", secret=client_secret)
        os.environ[ENV] = client_secret
        certificate_client(endpoint, "cert-app", folder / "app.pem")
        service_account(endpoint, folder / "sa.json", "bench@project.example")
        clients = {
            "fresh token, secret": oauth_client(
                "generic", token_url=endpoint.url, client_id="app", secret_env=ENV
            ),
            "fresh token, certificate": oauth_client(
                "microsoft",
                tenant="bench.example",
                client_id="cert-app",
                certificate_file=str(folder / "app.pem"),
                token_url=endpoint.url,
            ),
            "fresh token, service account": oauth_client(
                "google", service_account_file=str(folder / "sa.json")
            ),
        }
        plain = ImapUrl(tls=False, user=USER, host="127.0.0.1", port=dovecot.port, folder="INBOX")
        oauth = ImapUrl(**{**_fields(plain), "xoauth2": True})
        cached = TokenSource(clients["fresh token, secret"], USER)
        kinds: dict[str, Callable[[], object]] = {
            "password": lambda: probe(PollerConfig(plain, lambda: PASSWORD, "bench")),
            "cached token": lambda: probe(PollerConfig(oauth, cached.token, "bench")),
        }
        for name, client in clients.items():
            kinds[name] = lambda client=client: probe(
                PollerConfig(oauth, TokenSource(client, USER).token, "bench")
            )
        timings: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(args.rounds):
            for name, run in kinds.items():
                began = time.perf_counter()
                run()
                timings[name].append((time.perf_counter() - began) * 1000)
        print(f"{args.rounds} logins per kind (connect, login, SELECT, LOGOUT), ms:")
        for name, values in timings.items():
            p90 = statistics.quantiles(values, n=10)[-1]
            print(f"  {name:<30} median {statistics.median(values):6.2f}   p90 {p90:6.2f}")
    finally:
        dovecot.close()
        endpoint.close()


def _fields(url: ImapUrl) -> dict[str, object]:
    return {name: getattr(url, name) for name in ImapUrl.__slots__}


if __name__ == "__main__":
    main()
