"""`bridge experts` asked of a running service over its socket answers what it answers alone.

The server is bridge/local_socket.py on a real Unix socket in the store's data
directory with the service's real answers (bridge/local_answers.py) on a real
store (SQLite, or PostgreSQL with BRIDGE_TEST_BACKEND=postgres); the client is
the real command. One test starts a real `bridge serve` process and runs the
command in a process of its own, to see what that process imports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge.core import open_core
from bridge.local_answers import Answers
from bridge.local_client import ask
from bridge.local_socket import LocalSocket, socket_path
from bridge.settings import Settings, load_settings
from tests.support.backend import DATABASES
from tests.support.cli import run_bridge
from tests.support.env import bridge_env
from tests.support.experts import BO, MIA, ORG, VIC, build_world
from threads.db import make_engine

READER = "r@example.com"  # an organisation reader: not a member of `secret`


@dataclass
class Service:
    """The store, its environment, and a socket server answering for it (`start`/`stop`)."""

    data: Path
    env: dict[str, str]
    settings: Settings
    answers: Answers
    kinds: list[str] = field(default_factory=list)  # each answer: "answer" or a refusal's kind
    server: LocalSocket | None = None

    def handle(self, request: Any) -> dict[str, Any]:
        answer = self.answers(request)
        self.kinds.append(answer.get("kind", "answer"))
        return answer

    def start(self) -> None:
        self.server = LocalSocket(socket_path(self.data), self.handle)
        assert self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_bridge(["experts", *args], {**self.env, **env}, cwd=self.data.parent)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    data = tmp_path / "d"
    env = bridge_env(data, BRIDGE_ORG_DOMAINS=",".join(ORG))
    settings = load_settings(
        data=data,
        database_url=env.get("BRIDGE_DATABASE_URL") or None,
        org_domains=ORG,
        verify_senders="off",
    )
    core = open_core(settings)
    build_world(core)
    core.close()
    engine = make_engine(settings.effective_database_url)
    found = Service(data, env, settings, Answers(settings, engine))
    yield found
    found.stop()
    engine.dispose()


def masked(text: str) -> str:
    """The table with its score column blanked: scores decay with the clock between runs."""
    return re.sub(r"^(\s+\d+)\s+\d+\.\d\d(?=  )", r"\1 SCORE", text, flags=re.M)


def same_json(alone: str, asked: str) -> None:
    a, b = json.loads(alone), json.loads(asked)
    for p, q in zip(a["people"], b["people"], strict=True):
        assert q.pop("score") == pytest.approx(p.pop("score"), rel=1e-6)
    assert a == b


QUESTIONS = [
    ("zswap",),
    ("compressed swap cache",),
    ("zswap", "--limit", "2"),
    ("writeback", "--community", "eng"),
    ("zswap", "--as", READER),
    ("zswap", "--community", "secret", "--as", MIA),
    ("printer duplex", "--as", VIC),
    ("zzzunknownword",),
]


def test_the_socket_answers_what_the_command_answers_alone(service: Service) -> None:
    """Several questions, --community, --as, JSON and the table: the same output either way,
    and every one really answered by the service."""
    alone = {(q, j): service.run(*q, *j) for q in QUESTIONS for j in ((), ("--json",))}
    service.start()
    for (question, as_json), before in alone.items():
        asked = service.run(*question, *as_json)
        assert asked.returncode == before.returncode == 0, asked.stderr
        assert service.kinds[-1] == "answer"
        if as_json:
            same_json(before.stdout, asked.stdout)
        else:
            assert masked(asked.stdout) == masked(before.stdout)
    assert len(service.kinds) == len(alone)
    reader = json.loads(service.run("zswap", "--json", "--as", READER).stdout)["people"]
    assert [p for p in reader if p["name"] == "Vic Vendor"]
    assert all("address" not in p for p in reader if p["name"] == "Vic Vendor")  # outsider
    assert "Mia Hidden" not in {p["name"] for p in reader}  # her community is not readable
    shell = json.loads(service.run("zswap", "--json").stdout)["people"]
    assert shell[0]["address"] == BO
    assert VIC in {p.get("address") for p in shell}


def test_the_users_mistakes_are_the_same_one_line_errors(service: Service) -> None:
    """A community the reader may not read looks missing; a bad --as is named; via the socket
    as in-process, and answered by the service, not by a fallback."""
    cases = [
        ("zswap", "--community", "secret", "--as", READER),
        ("zswap", "--community", "nope"),
        ("zswap", "--as", "not an address"),
    ]
    alone = [service.run(*c) for c in cases]
    service.start()
    for case, before in zip(cases, alone, strict=True):
        asked = service.run(*case)
        assert service.kinds[-1] == "usage"
        assert (asked.returncode, asked.stdout, asked.stderr) == (
            before.returncode,
            before.stdout,
            before.stderr,
        )
        assert asked.returncode == 1
        assert asked.stderr.count("\n") == 1
    assert alone[0].stderr == "Error: no community 'secret'\n"
    assert alone[0].stderr == alone[1].stderr.replace("nope", "secret")


def test_a_client_of_another_database_gets_its_own_archives_answer(
    service: Service, tmp_path: Path
) -> None:
    """Same data directory, another BRIDGE_DATABASE_URL (an empty archive): the service
    refuses and the command answers from its own database; other organisation settings too."""
    other_url = DATABASES.new_url() or f"sqlite:///{tmp_path / 'other.sqlite3'}"
    open_core(
        load_settings(data=tmp_path / "o", database_url=other_url, verify_senders="off")
    ).close()
    service.start()
    own = service.run("zswap", BRIDGE_DATABASE_URL=other_url)
    assert service.kinds == ["database"]
    assert own.stdout == "Nobody found for 'zswap'.\n"
    scoped = service.run("zswap", "--json", BRIDGE_ORG_DOMAINS="example.com,vendor.example")
    assert service.kinds == ["database", "settings"]
    names = {p["name"]: p for p in json.loads(scoped.stdout)["people"]}
    assert names["Vic Vendor"]["address"] == VIC  # the client's own settings, its own answer


def test_the_service_stopping_mid_question_makes_the_command_answer_itself(
    service: Service,
) -> None:
    """The connection closes under a question in flight: the command falls back, same answer."""
    alone = service.run("zswap", "--json")
    entered, release = threading.Event(), threading.Event()

    def stuck(request: Any) -> dict[str, Any]:
        entered.set()
        release.wait(30)
        return service.answers(request)

    server = LocalSocket(socket_path(service.data), stuck)
    assert server.start()
    stopper = threading.Thread(target=lambda: entered.wait(30) and server.stop())
    stopper.start()
    try:
        asked = service.run("zswap", "--json")
    finally:
        stopper.join(30)
        release.set()
        server.stop()
    assert entered.is_set()
    assert not server.path.exists()
    assert asked.returncode == 0, asked.stderr
    same_json(alone.stdout, asked.stdout)


def test_unknown_versions_commands_and_fields_get_typed_refusals(service: Service) -> None:
    """The service answers only what it knows, and says which kind of refusal it is."""
    service.start()
    assert service.server is not None
    path = service.server.path
    good = {"v": 1, "command": "experts", "query": "zswap", "limit": 3, "database": None}
    good |= {"community": None, "as": None}
    good["settings"] = {"org_domains": ORG, "mail_domain": service.settings.mail_domain}
    assert "answer" in (ask(path, good) or {})
    for change, kind in (
        ({"v": 2}, "version"),
        ({"command": "drop"}, "command"),
        ({"limit": 1000}, "bad_request"),
        ({"limit": "3"}, "bad_request"),
        ({"query": None}, "bad_request"),
        ({"as": 7}, "bad_request"),
        ({"database": "sqlite:////elsewhere.sqlite3"}, "database"),
        ({"settings": None}, "settings"),
    ):
        assert (ask(path, good | change) or {}).get("kind") == kind, change
    assert (ask(path, [1, 2]) or {}).get("kind") == "version"  # type: ignore[arg-type]


HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "pydantic_settings", "alembic", "threads.models")

# The command run as its console script would run it, then the modules it loaded.
CLIENT = """
import json, sys
from bridge.cli import main
try:
    main(["experts", "zswap", "--json"], prog_name="bridge")
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def test_a_real_service_answers_a_process_that_imports_nothing_heavy(service: Service) -> None:
    """`bridge serve` (worker role: no ports) opens DATA/run/bridge.sock; `bridge experts` in
    a process of its own gets the answer without SQLAlchemy, pydantic or the models; the
    socket file is gone when the service stops."""
    alone = service.run("zswap", "--json")
    path = socket_path(service.data)
    serve = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--role", "worker"],
        env=service.env,
        cwd=service.data.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not path.exists():
            assert serve.poll() is None, serve.stdout
            assert time.monotonic() < deadline
            time.sleep(0.1)
        client = subprocess.run(
            [sys.executable, "-c", CLIENT],
            env=service.env,
            cwd=service.data.parent,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert client.returncode == 0, client.stderr
        loaded = json.loads(client.stderr.splitlines()[-1])
        assert "bridge.local_client" in loaded
        assert {m for m in loaded for h in HEAVY if m == h or m.startswith(h + ".")} == set()
        same_json(alone.stdout, client.stdout)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    assert serve.returncode == 0, serve.stdout
    assert not path.exists()
    assert os.listdir(path.parent) == ["bridge.sock.lock"]
