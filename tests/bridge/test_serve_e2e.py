"""End to end: `bridge serve` on free ports, mail sent by smtplib, read on the web and in export."""

from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import bridge_env
from tests.support.messages import conversation
from tests.support.net import free_port, wait_for


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, object]]:
    env = {**os.environ, **bridge_env(tmp_path / "d")}
    smtp, web = free_port(), free_port()
    bridge = [sys.executable, "-m", "bridge"]
    subprocess.run(
        [
            *bridge,
            "community",
            "add",
            "eng",
            "--name",
            "Engineering",
            "--address",
            "eng@lists.example.com",
            # Read below without logging in (tests/web/test_auth.py covers login).
            "--visibility",
            "public",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [*bridge, "serve", "--smtp-port", str(smtp), "--web-port", str(web)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{web}/").status == 200)
        yield {"smtp": smtp, "web": web, "env": env, "bridge": bridge}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_cc_heavy_conversation_by_smtp_becomes_one_thread(server) -> None:
    """A message to ten people plus two replies, sent by SMTP, read as one thread."""
    with smtplib.SMTP("127.0.0.1", server["smtp"]) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail("a@example.com", ["nobody@lists.example.com"], b"Subject: x\r\n\r\nx\r\n")
        assert refused.value.recipients["nobody@lists.example.com"][0] == 550
        for raw in conversation(3):
            # SMTP lines end in CRLF; the listener refuses bare LF (make_mail writes LF).
            crlf = raw.replace(b"\n", b"\r\n")
            reply = smtp.sendmail("p@example.com", ["eng@lists.example.com"], crlf)
            assert reply == {}
    web = f"http://127.0.0.1:{server['web']}"

    def threads_page() -> str | None:
        text = urllib.request.urlopen(f"{web}/c/eng").read().decode()
        return text if "3 messages" in text else None

    page = wait_for(threads_page)
    assert "Rollout plan" in page
    out = subprocess.run(
        [*server["bridge"], "export", "threads", "--community", "eng", "--json"],
        env=server["env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (thread,) = json.loads(out)["threads"]
    assert [m["parent"] for m in thread["messages"]] == [None, "c0@example.com", "c1@example.com"]
    html = urllib.request.urlopen(f"{web}/t/{thread['id']}").read().decode()
    assert "Message number 2 about the rollout." in html


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 4 of /proc/PID/stat is the parent's pid (after "pid (comm) state").
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_several_web_processes_share_the_port_and_stop_together(tmp_path: Path) -> None:
    """BRIDGE_WEB_PROCESSES=3: two forked children and the parent answer on one port."""
    env = {**os.environ, **bridge_env(tmp_path / "d"), "BRIDGE_WEB_PROCESSES": "3"}
    web = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--role", "web", "--web-port", str(web)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{web}/").status == 200)
        web_children = wait_for(lambda: len(_children(proc.pid)) >= 2 and _children(proc.pid))
        statuses = [urllib.request.urlopen(f"http://127.0.0.1:{web}/").status for _ in range(20)]
        assert statuses == [200] * 20
        # A child that is killed does not take the others down; they still answer.
        os.kill(web_children[0], 9)
        statuses = [urllib.request.urlopen(f"http://127.0.0.1:{web}/").status for _ in range(10)]
        assert statuses == [200] * 10
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    for pid in web_children[1:]:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_web_process_sockets_are_tcp_so_asyncio_sets_nodelay() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only for sockets whose protocol
    is TCP's; a socket made without it left every keep-alive response waiting ~40 ms
    for a delayed ACK."""
    from bridge import serve

    sock = serve._listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
