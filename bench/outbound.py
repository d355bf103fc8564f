"""Outbound mail throughput: notifications composed, queued and delivered per second.

    python bench/outbound.py --participants 50 --posts 20              # SQLite, Maildir outbox
    python bench/outbound.py --participants 50 --posts 20 --relay      # a local aiosmtpd relay
    python bench/outbound.py --backend postgres                        # private cluster

One thread whose opening message has `participants` addresses on Cc; then
`posts` web replies, each owed to every participant. The sender composes
every copy (reply token, unsubscribe links, two templates), queues it, and
delivers it into DATA/outbox or to a recording aiosmtpd relay on loopback.
Prints the time of each phase and the copies per second. With `--dkim` the
sender signs every copy (a key made for the run, as `bridge dkim keygen` makes it).

Then, in the same run, the composer alone: `--copies` post copies composed to
wire bytes (mail/compose.py, mail/wire.py) unsigned and composed+DKIM-signed
(mail/signing.py), in alternating rounds so both see the same machine load;
it prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from aiosmtpd.controller import Controller  # noqa: E402

from bridge import admin  # noqa: E402
from bridge.core import open_core  # noqa: E402
from bridge.dkim_keys import keygen  # noqa: E402
from bridge.outbound.sender import Sender  # noqa: E402
from bridge.posting import post_reply  # noqa: E402
from bridge.settings import load_settings  # noqa: E402
from mail.compose import Addressing, ListInfo, Post, compose_post  # noqa: E402
from mail.envelope import Envelope  # noqa: E402
from mail.signing import DkimSigner, generate_key  # noqa: E402
from mail.wire import to_wire  # noqa: E402
from tests.support.backend import PostgresCluster  # noqa: E402
from tests.support.messages import make_mail  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from threads.access import Viewer  # noqa: E402
from threads.db import writer  # noqa: E402

PUBLIC = "https://bridge.example.com"


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.count += 1
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--relay", action="store_true", help="deliver to a local aiosmtpd relay")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--dkim", action="store_true", help="sign every copy the sender delivers")
    parser.add_argument("--copies", type=int, default=300, help="copies for the composer figure")
    args = parser.parse_args()

    cluster = PostgresCluster() if args.backend == "postgres" else None
    controller = None
    sink = Sink()
    options: dict[str, object] = {}
    if args.relay:
        port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        options = {"smtp_relay": f"127.0.0.1:{port}", "smtp_relay_tls": "none"}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = None
            if cluster is not None:
                import psycopg

                dsn = cluster.admin_url.replace("postgresql+psycopg", "postgresql")
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute('CREATE DATABASE "bench"')
                url = cluster.admin_url.rsplit("/", 1)[0] + "/bench"
            settings = load_settings(
                data=Path(tmp) / "data",
                database_url=url,
                mail_domain="bridge.example",
                public_url="https://bridge.example.com",
                **options,
            )
            if args.dkim:
                keygen(settings, "bench", "bridge.example")
                settings = settings.model_copy(update={"dkim_selector": "bench"})
            core = open_core(settings)
            address = ["eng@lists.example.com"]
            with writer(core.engine).begin() as conn:
                admin.add_community(conn, "eng", "Engineering", addresses=address)
            cc = ", ".join(f"p{i}@example.com" for i in range(args.participants))
            receipt = core.inbox.accept(
                make_mail("Rollout plan", cc=cc, msgid="root@example.com"),
                Envelope("import", community_hint="eng"),
            )
            core.pipeline.run([receipt.raw_id])
            thread_id = 1
            author = Viewer(email="lee@example.com", is_admin=True)
            started = time.perf_counter()
            for n in range(args.posts):
                post_reply(core, author, thread_id, f"Update number {n}.\n", name="Lee")
            posted = time.perf_counter()
            sender = Sender(core.engine, settings)
            composed = 0
            while True:
                made, _skipped = sender.compose_notifications()
                if not made:
                    break
                composed += made
            done_compose = time.perf_counter()
            sent = 0
            while True:
                ok, _deferred, _failed = sender.deliver_due()
                if not ok:
                    break
                sent += ok
            done_send = time.perf_counter()
            core.close()
        where = ("relay" if args.relay else "Maildir outbox") + (", signed" if args.dkim else "")
        print(f"backend {args.backend}, {args.participants} participants x {args.posts} posts")
        print(f"web posts filed:   {posted - started:7.2f} s")
        print(
            f"composed+queued:   {done_compose - posted:7.2f} s  {composed} copies "
            f"({composed / (done_compose - posted):.0f}/s)"
        )
        print(
            f"delivered ({where}): {done_send - done_compose:7.2f} s  {sent} copies "
            f"({sent / (done_send - done_compose):.0f}/s)"
        )
        if args.relay:
            print(f"relay received:    {sink.count}")
        compose_figure(args.copies)
    finally:
        if controller is not None:
            controller.stop()
        if cluster is not None:
            cluster.stop()


def compose_figure(copies: int, rounds: int = 6) -> None:
    """Copies per second composed to wire bytes, unsigned and signed, alternating rounds."""
    signer = DkimSigner("bench", "bridge.example", generate_key())
    lst = ListInfo("Engineering", "eng", "eng@lists.example.com", "bridge.example", PUBLIC)
    post = Post(
        "update.1@bridge.example",
        "Re: Rollout plan",
        "Lee Park",
        "lee@example.com",
        "Update number 1: the migration window moves to the weekend.\n" * 5,
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        references=[f"m{i}@example.com" for i in range(8)],
        thread_url=f"{PUBLIC}/t/1",
    )

    def one(i: int) -> bytes:
        token = "reply+" + f"{i:06d}" * 20 + "@bridge.example"
        to = Addressing(
            f"p{i}@example.com",
            token,
            f"{PUBLIC}/unsubscribe/{i:06d}" + "x" * 80,
            f"mailto:{token}",
        )
        return to_wire(compose_post(post, lst, to))

    per = max(1, copies // rounds)
    spent = {"unsigned": 0.0, "signed": 0.0}
    for _ in range(rounds):
        for kind in spent:
            started = time.perf_counter()
            for i in range(per):
                raw = one(i)
                if kind == "signed":
                    signer.sign(raw)
            spent[kind] += time.perf_counter() - started
    rate = {kind: per * rounds / seconds for kind, seconds in spent.items()}
    print(
        f"composer, {per * rounds} copies each: unsigned {rate['unsigned']:.0f}/s, "
        f"DKIM-signed {rate['signed']:.0f}/s, ratio {rate['signed'] / rate['unsigned']:.2f}"
    )


if __name__ == "__main__":
    main()
