"""The everyday commands a person expects: list communities, routes and members, import
members from CSV, search with clean output, readable `parse`, and whole-archive exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bridge.demo import DEMO_DIR
from tests.support.messages import conversation, corpus_messages

DEMO_FILES = sorted(DEMO_DIR.glob("*.eml"))


def read_mboxrd(data: bytes) -> list[bytes]:
    """Split an mboxrd file back into messages (separator dropped, >From unquoted)."""
    parts = re.split(rb"^From [^\n]*\n", data, flags=re.M)
    assert parts[0] == b""
    out = []
    for part in parts[1:]:
        body = part[:-1] if part.endswith(b"\n\n") else part  # the blank line mboxrd adds
        out.append(re.sub(rb"^>(>*From )", rb"\1", body, flags=re.M))
    return out


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    path.write_bytes(
        b"".join(b"From x Mon Mar  2 09:00:00 2026\n" + m.rstrip(b"\n") + b"\n\n" for m in messages)
    )
    return path


@pytest.fixture
def eng(bridge_cli, tmp_path: Path):
    """A community `eng` holding the demo organisation's mail (a folder of .eml files)."""
    bridge_cli("community", "add", "eng", "--name", "Engineering", "--address", "eng@x.example")
    folder = tmp_path / "mail"
    folder.mkdir()
    for file in DEMO_FILES:
        (folder / file.name).write_bytes(file.read_bytes())
    bridge_cli("import", "--community", "eng", str(folder))
    return bridge_cli


def test_community_list_shows_every_community(bridge_cli) -> None:
    """`community list` names each community with its settings; archived ones too."""
    assert "no communities yet" in bridge_cli("community", "list").stderr
    bridge_cli("community", "add", "ops", "--name", "Operations", "--visibility", "public")
    bridge_cli("community", "add", "old", "--name", "Old list")
    bridge_cli("community", "edit", "old", "--archive")
    listed = bridge_cli("community", "list", "--json").stdout
    rows = [json.loads(line) for line in listed.splitlines()]
    assert [(r["slug"], r["visibility"], r["archived"]) for r in rows] == [
        ("old", "org", True),
        ("ops", "public", False),
    ]
    text = bridge_cli("community", "list").stdout
    assert "Operations  [public, posting org] 0 threads, 0 messages" in text
    assert "(archived)" in text


def test_route_remove(bridge_cli) -> None:
    """`route remove` takes a route away (audited); a route that is not there is one line."""
    bridge_cli("community", "add", "ops", "--name", "Ops", "--address", "ops@lists.example.com")
    bridge_cli("route", "add", "ops", "--list-id", "ops.lists.example.com")
    assert bridge_cli("route", "remove", "ops", "OPS@lists.example.com").stdout == (
        "route address ops@lists.example.com of ops removed\n"
    )
    listed = bridge_cli("route", "list").stdout
    assert "ops.lists.example.com" in listed
    assert "ops@lists.example.com" not in listed
    again = bridge_cli("route", "remove", "ops", "ops@lists.example.com", ok=False)
    assert again.returncode == 1
    assert again.stderr == "Error: community 'ops' has no route 'ops@lists.example.com'\n"
    assert "route.remove" in bridge_cli("audit").stdout


def test_member_list_and_remove(bridge_cli) -> None:
    """`member list` shows moderators first; `member remove` takes one away."""
    bridge_cli("community", "add", "ops", "--name", "Ops")
    bridge_cli("member", "add", "ops", "b@example.com")
    bridge_cli("member", "add", "ops", "a@example.com", "--moderator")
    listed = bridge_cli("member", "list", "ops").stdout.splitlines()
    assert [line.split()[:2] for line in listed] == [
        ["moderator", "a@example.com"],
        ["member", "b@example.com"],
    ]
    bridge_cli("member", "remove", "ops", "b@example.com")
    assert "b@example.com" not in bridge_cli("member", "list", "ops").stdout
    missing = bridge_cli("member", "list", "nope", ok=False)
    assert (missing.returncode, missing.stderr) == (1, "Error: no community 'nope'\n")


def test_member_import_thousands_in_one_go(bridge_cli, tmp_path: Path) -> None:
    """A CSV of 2,000 people with a header, names and roles imports in one command."""
    bridge_cli("community", "add", "all", "--name", "Everyone")
    lines = ["email,role,name"] + [
        f"person{n:04d}@example.com,{'moderator' if n % 500 == 0 else ''},Person {n}"
        for n in range(2000)
    ]
    csv = tmp_path / "people.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = bridge_cli("member", "import", "all", str(csv)).stdout
    assert out == "imported 2000 into all: 1996 member(s), 4 moderator(s)\n"
    members = [
        json.loads(line)
        for line in bridge_cli("member", "list", "all", "--json").stdout.split("\n")
        if line
    ]
    assert len(members) == 2000
    assert members[0] == {
        "email": "person0000@example.com",
        "name": "Person 0",
        "role": "moderator",
        "disabled": False,
    }


def test_member_import_with_bad_lines_imports_nobody(bridge_cli, tmp_path: Path) -> None:
    """Every bad line is reported with its number; a file with any imports nobody."""
    bridge_cli("community", "add", "all", "--name", "Everyone")
    csv = tmp_path / "people.csv"
    csv.write_text(
        "ok@example.com\n"
        "not an address\n"
        "\n"
        "# a comment line\n"
        "x@example.com,owner\n"
        "OK@example.com\n"
        "y@example.com,member,Y,extra\n",
        encoding="utf-8",
    )
    result = bridge_cli("member", "import", "all", str(csv), ok=False)
    assert result.returncode == 1
    problems = result.stderr.splitlines()
    assert [p.split(":")[1].strip() for p in problems[:-1]] == [
        "line 2",
        "line 5",
        "line 6",
        "line 7",
    ]
    assert "ok@example.com is already on line 1" in problems[2]
    assert problems[-1] == f"Error: {csv}: 4 bad line(s); nobody was imported"
    assert bridge_cli("member", "list", "all").stdout == ""
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("zoë@example.com\n".encode("latin-1"))
    bad = bridge_cli("member", "import", "all", str(latin1), ok=False)
    assert (bad.returncode, bad.stderr) == (1, f"Error: {latin1}: not UTF-8 text (byte 2)\n")


def test_search_says_when_nothing_matched_and_prints_clean_snippets(eng) -> None:
    """Plain words in the snippet (no control markers), and a line when nothing matched."""
    found = eng("search", "billing cluster").stdout
    assert "Postgres upgrade window for the billing cluster" in found
    assert not re.search(r"[\x00-\x08\x0b-\x1f\[\]]", found)
    snippets = [line for line in found.splitlines() if line.startswith("        ")]
    assert snippets
    assert all("billing" in s.lower() or "cluster" in s.lower() for s in snippets)
    none = eng("search", "zebracorn")
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "no messages match 'zebracorn'\n")
    hits = json.loads(eng("search", "billing", "--json").stdout)["results"]
    assert hits
    assert all("\x02" not in h["snippet"] for h in hits)


def test_parse_prints_readable_text(bridge_cli) -> None:
    """Without --json, `parse` lays out the headers, the defects and the visible text."""
    file = DEMO_DIR / "16-aw-oncall-rotation.eml"
    out = bridge_cli("parse", str(file)).stdout
    facts = json.loads(bridge_cli("parse", "--json", str(file)).stdout)
    assert out.startswith(f"{file}\n  Subject:     {facts['subject']}\n")
    assert f"  From:        {facts['from']['name']} <{facts['from']['address']}>" in out
    assert f"  Message-ID:  {facts['message_id']}" in out
    first_line = facts["visible_text"].strip().splitlines()[0]
    assert f"  | {first_line}" in out
    assert "{" not in out.splitlines()[1]  # not a JSON dump


def test_export_mbox_gives_back_the_mail_as_it_arrived(eng, tmp_path: Path) -> None:
    """The whole archive and one community as mbox: every message's raw bytes, unchanged."""
    eng("community", "add", "empty", "--name", "Nothing yet")
    whole = eng("export", "mbox", "-o", str(tmp_path / "all.mbox"))
    assert whole.stdout == ""
    messages = read_mboxrd((tmp_path / "all.mbox").read_bytes())
    originals = {f.read_bytes().rstrip(b"\n") for f in DEMO_FILES}
    assert {m.rstrip(b"\n") for m in messages} == originals
    assert len(messages) == len(DEMO_FILES)
    one = eng("export", "mbox", "--community", "eng").stdout
    assert read_mboxrd(one.encode()) == messages
    missing = eng("export", "mbox", "--community", "nope", "-o", str(tmp_path / "n.mbox"), ok=False)
    assert (missing.returncode, missing.stderr) == (1, "Error: no community 'nope'\n")
    assert not (tmp_path / "n.mbox").exists()
    assert not (tmp_path / "n.mbox.partial").exists()


def test_export_json_has_the_bodies(eng) -> None:
    """JSON export: communities, threads, messages with their text, one document."""
    data = json.loads(eng("export", "json").stdout)
    (community,) = data["communities"]
    assert community["slug"] == "eng"
    messages = [m for t in community["threads"] for m in t["messages"]]
    assert len(messages) == len(DEMO_FILES)
    first = community["threads"][0]
    assert first["subject"] == "Postgres upgrade window for the billing cluster"
    assert "PostgreSQL 13" in first["messages"][0]["text"]
    assert all(m["text"] or m["attachments"] for m in messages)
    assert json.loads(eng("export", "json", "--community", "eng").stdout) == data


@pytest.mark.corpus
@pytest.mark.slow
def test_export_round_trips_real_list_mail(bridge_cli, tmp_path: Path) -> None:
    """Real mailing-list mail imported then exported as mbox comes back byte for byte."""
    raws = list(corpus_messages("ksummit-3k", limit=300))
    bridge_cli("community", "add", "ks", "--name", "Kernel summit")
    folder = tmp_path / "in"
    folder.mkdir()
    for n, raw in enumerate(raws):  # .eml files: no mbox quoting between us and the bytes
        (folder / f"{n:04d}.eml").write_bytes(raw)
    bridge_cli("import", "--community", "ks", str(folder))
    bridge_cli("export", "mbox", "-o", str(tmp_path / "out.mbox"))
    exported = read_mboxrd((tmp_path / "out.mbox").read_bytes())
    sent = {r.rstrip(b"\n") for r in raws}
    assert exported
    assert {m.rstrip(b"\n") for m in exported} <= sent
    data = json.loads(bridge_cli("export", "json").stdout)
    assert sum(len(t["messages"]) for t in data["communities"][0]["threads"]) == len(exported)


def test_every_error_is_one_line(bridge_cli, tmp_path: Path) -> None:
    """Errors of the new commands: one stderr line, non-zero status, no traceback."""
    bridge_cli("community", "add", "ops", "--name", "Ops")
    for args in (
        ("route", "remove", "nope", "a@example.com"),
        ("member", "import", "nope", str(_one_line_csv(tmp_path))),
        ("export", "json", "--community", "nope"),
        ("export", "mbox", "-o", str(tmp_path / "no" / "such" / "dir.mbox")),
    ):
        result = bridge_cli(*args, ok=False)
        assert result.returncode != 0, args
        assert len(result.stderr.splitlines()) == 1, (args, result.stderr)
        assert result.stderr.startswith("Error: "), (args, result.stderr)


def test_parse_of_a_directory_is_a_usage_error(bridge_cli, tmp_path: Path) -> None:
    """A folder given to `parse` is refused by the argument check, not with a traceback."""
    result = bridge_cli("parse", str(tmp_path), ok=False)
    assert result.returncode == 2
    assert "is a directory" in result.stderr
    assert "Traceback" not in result.stderr


def _one_line_csv(tmp_path: Path) -> Path:
    path = tmp_path / "one.csv"
    path.write_text("a@example.com\n", encoding="utf-8")
    return path


def test_conversation_export_keeps_thread_order(bridge_cli, tmp_path: Path) -> None:
    """Replies come after what they answer in both exports."""
    bridge_cli("community", "add", "c", "--name", "C")
    bridge_cli("import", "--community", "c", str(write_mbox(tmp_path / "c.mbox", conversation(3))))
    (thread,) = json.loads(bridge_cli("export", "json").stdout)["communities"][0]["threads"]
    assert [m["message_id"] for m in thread["messages"]] == [
        "c0@example.com",
        "c1@example.com",
        "c2@example.com",
    ]
    assert [m["parent"] for m in thread["messages"]] == [None, "c0@example.com", "c1@example.com"]


def test_member_import_again_changes_roles_and_audits(bridge_cli, tmp_path: Path) -> None:
    """Importing people already there changes only roles that differ, each audited."""
    bridge_cli("community", "add", "all", "--name", "Everyone")
    bridge_cli("member", "add", "all", "a@example.com")
    csv = tmp_path / "people.csv"
    csv.write_text("a@example.com,moderator\nb@example.com\n", encoding="utf-8")
    bridge_cli("member", "import", "all", str(csv))
    bridge_cli("member", "import", "all", str(csv))  # the second time changes nothing
    listed = [line.split()[:2] for line in bridge_cli("member", "list", "all").stdout.splitlines()]
    assert listed == [["moderator", "a@example.com"], ["member", "b@example.com"]]
    audit = [json.loads(line) for line in bridge_cli("audit", "--json").stdout.splitlines()]
    sets = [(e["target"], e["before"], e["after"]) for e in audit if e["action"] == "member.set"]
    assert sorted(sets, key=str) == sorted(
        [
            ("all a@example.com", None, {"role": "member"}),
            ("all a@example.com", {"role": "member"}, {"role": "moderator"}),
            ("all b@example.com", None, {"role": "member"}),
        ],
        key=str,
    )


def test_terminal_escapes_in_mail_never_reach_the_terminal(bridge_cli, tmp_path: Path) -> None:
    """A stranger's escape sequences (retitle the window, recolour) are dropped from text output."""
    raw = (
        b"From: x@example.com\r\nTo: c@lists.example.com\r\nMessage-ID: <esc@example.com>\r\n"
        b"Date: Mon, 2 Mar 2026 09:00:00 +0000\r\nSubject: escape test\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"zebrafish \x1b]0;owned\x07 and \x1b[2J cleared \xc2\x9b31m screen\r\n"
    )
    (tmp_path / "esc.eml").write_bytes(raw)
    parsed = bridge_cli("parse", str(tmp_path / "esc.eml")).stdout
    assert "zebrafish" in parsed
    bridge_cli("community", "add", "c", "--name", "C", "--address", "c@lists.example.com")
    bridge_cli("import", "--community", "c", str(tmp_path / "esc.eml"))
    found = bridge_cli("search", "zebrafish").stdout
    assert "zebrafish" in found
    for out in (parsed, found):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out)


def test_member_names_with_escapes_are_listed_without_them(bridge_cli, tmp_path: Path) -> None:
    """A name from a CSV file carrying an escape sequence is listed without it."""
    bridge_cli("community", "add", "all", "--name", "Everyone")
    csv = tmp_path / "people.csv"
    csv.write_text("eve@example.com,member,Eve\x1b[2J Doe\n", encoding="utf-8")
    bridge_cli("member", "import", "all", str(csv))
    assert bridge_cli("member", "list", "all").stdout == "member     eve@example.com  Eve[2J Doe\n"
