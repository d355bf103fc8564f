"""A small made-up archive for "who knows X" (fictional people at example.com).

Org domain example.com. Community `eng` (org readers) holds:
- three threads on zswap: Ana asks in plain words ("compress pages before
  they hit swap") and Bo answers with the jargon; Cy asks about the zswap
  pool and Bo answers; Bo starts one on writeback and Dee answers. Vic, an
  outsider (vic@vendor.example), gives a real answer too; Oli answers but has
  opted out (the test opts them out); a CI robot posts test results full of
  the word.
- a fourth where Cy asks in plain words again and Bo answers "zswap".
- noise: Hal, the busiest poster, writes in every thread ("Applied,
  thanks.") and about printers, VPN and budgets.
Community `secret` (members only; Mia is its member) holds Mia's two zswap
threads: nobody else may learn of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge import admin
from bridge.core import Core
from tests.support.factories import deliver
from tests.support.messages import make_mail
from threads.db import writer

ORG = ["example.com"]
BO, DEE, VIC, OLI, HAL, MIA = (
    "bo@example.com",
    "dee@example.com",
    "vic@vendor.example",
    "oli@example.com",
    "hal@example.com",
    "mia@example.com",
)
ROBOT = "ci-bot@example.com"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOISE = [
    ("Printer on floor 3", "The printer on floor three jams on duplex pages again."),
    ("VPN drops at night", "The VPN tunnel drops every night around two, the gateway logs say."),
    ("Budget for Q2", "Budget planning for the second quarter: travel and hardware lines."),
    ("Office plants", "Who waters the plants while the facilities team is away?"),
    ("Badge readers", "Badge readers at the north door reject new badges."),
    ("Lunch talks", "Lunch talks resume next month; propose a topic for the series."),
    ("Laptop refresh", "Laptop refresh: the new models arrive with more memory."),
    ("Wiki migration", "The wiki migration moves every page to the new server."),
]


class _Thread:
    """Builds one conversation: each `say` replies to the message named (default: the last)."""

    def __init__(self, slug: str, subject: str, key: str, day: int) -> None:
        self.slug, self.subject, self.key = slug, subject, key
        self.when = START + timedelta(days=day)
        self.ids: list[str] = []
        self.mails: list[bytes] = []

    def say(self, sender: str, body: str, *, to: int | None = None) -> _Thread:
        n = len(self.ids)
        mid = f"{self.key}-{n}@example.com"
        parent = self.ids[to if to is not None else -1] if self.ids else None
        self.mails.append(
            make_mail(
                ("Re: " if parent else "") + self.subject,
                sender=sender,
                to=f"{self.slug}@lists.example.com",
                msgid=mid,
                in_reply_to=parent,
                references=" ".join(f"<{i}>" for i in self.ids) or None,
                body=body,
                date=self.when + timedelta(hours=n),
            )
        )
        self.ids.append(mid)
        return self


def build_world(core: Core) -> None:
    """Communities, members and the threads described in the module docstring."""
    with writer(core.engine).begin() as conn:
        admin.add_community(conn, "eng", "Engineering", "org", addresses=["eng@lists.example.com"])
        admin.add_community(
            conn, "secret", "Secret", "members", addresses=["secret@lists.example.com"]
        )
        admin.set_member(conn, "secret", MIA, "member")
        admin.set_member(conn, "eng", VIC, "member")  # so the outsider's answer is not held
    threads = [
        _Thread("eng", "Memory pressure on build hosts", "mem", 0)
        .say(
            "Ana Lima <ana@example.com>",
            "Our build hosts swap heavily. Is there a way to "
            "compress pages before they hit the swap disk?\n",
        )
        .say(
            f"Bo Berg <{BO}>",
            "Enable zswap: it keeps a compressed swap cache in RAM. zswap "
            "with the zstd compressor and the zsmalloc pool works well for builds.\n",
        )
        .say(f"Hal Busy <{HAL}>", "Applied, thanks.\n")
        .say("Ana Lima <ana@example.com>", "Thanks Bo, zswap fixed it.\n", to=1),
        _Thread("eng", "zswap pool size", "pool", 3)
        .say("Cy Diaz <cy@example.com>", "What max_pool_percent should the zswap pool use?\n")
        .say(
            f"Bo Berg <{BO}>",
            "For zswap set max_pool_percent to 20; the zsmalloc pool "
            "grows until then and zswap writes back the oldest pages.\n",
        )
        .say(
            f"Vic Vendor <{VIC}>",
            "On our appliances zswap with zstd and a 25 percent pool "
            "was best; zsmalloc fragmentation stayed low.\n",
        )
        .say(
            f"Oli Opt <{OLI}>",
            "zswap pool tuning: zsmalloc and zstd, same here, zswap writeback shrinker on.\n",
        )
        .say(f"Hal Busy <{HAL}>", "Applied, thanks.\n"),
        _Thread("eng", "zswap writeback stalls", "wb", 6)
        .say(f"Bo Berg <{BO}>", "zswap writeback stalls the shrinker under zsmalloc pressure.\n")
        .say(
            f"Dee Ng <{DEE}>",
            "The zswap shrinker needs the writeback patch; zsmalloc compaction then keeps up.\n",
        )
        .say(f"CI Robot <{ROBOT}>", "zswap zswap zsmalloc zstd test results: all pass.\n")
        .say(f"Hal Busy <{HAL}>", "Applied, thanks.\n"),
        _Thread("eng", "Swap on the test runners", "run", 7)
        .say(
            "Cy Diaz <cy@example.com>",
            "The test runners swap a lot: how big may a compressed "
            "cache in memory get before it hurts?\n",
        )
        .say(f"Bo Berg <{BO}>", "Keep the zswap pool under a fifth of memory.\n")
        .say(f"Hal Busy <{HAL}>", "Applied, thanks.\n"),
        _Thread("secret", "zswap on the secret cluster", "sec1", 8).say(
            f"Mia Hidden <{MIA}>",
            "zswap with zsmalloc on the secret cluster: compressed "
            "swap cache sized at 30 percent.\n",
        ),
        _Thread("secret", "zswap tuning notes", "sec2", 9).say(
            f"Mia Hidden <{MIA}>", "More zswap and zsmalloc tuning notes, zstd compressor.\n"
        ),
    ]
    # Enough everyday talk that zswap is rare in the archive at large, as a topic is.
    for n, (subject, body) in enumerate(NOISE * 3):
        t = _Thread("eng", subject, f"noise{n}", 10 + n)
        t.say(f"Hal Busy <{HAL}>", body)
        t.say("Ana Lima <ana@example.com>", "Noted, I will look at it this week.\n")
        t.say(f"Hal Busy <{HAL}>", body.replace("The ", "Again: the ", 1))
        t.say(f"Hal Busy <{HAL}>", "Applied, thanks.\n")
        threads.append(t)
    for t in threads:
        deliver(core, *t.mails)
