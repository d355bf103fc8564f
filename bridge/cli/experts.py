"""`bridge experts QUERY`: who knows about a topic, from what people wrote themselves.

With `--as EMAIL` only the communities that address may read count, and
addresses it may not see are left out (outsiders by name only), as on the
web's /experts page; without it the shell reads everything as a local admin.

A running `bridge serve` on the same data directory answers first, over its
socket (bridge/local_socket.py): the settings that name the socket and the
database are read with the standard library (bridge/settings_peek.py) and
nothing heavy is imported on that path. With no service, a service of
another database or settings, or any fault of the transport, the command
opens the store and computes the same answer itself (bridge/expert_answers.py).
Both answers go through `render`, so they print alike to the byte.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from bridge.errors import UsageError


@click.command()
@click.argument("query")
@click.option("--community", help="Only this community (its slug).")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: query and people.")
@click.option("--as", "as_email", help="Count only what this address may read.")
@click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
def experts(
    query: str,
    community: str | None,
    limit: int,
    as_json: bool,
    as_email: str | None,
    data: Path | None,
) -> None:
    """Who knows about QUERY: people ranked by their own words on it, best first."""
    asked = {"query": query, "community": community, "limit": limit, "as": as_email}
    payload = _from_service(data, asked)
    if payload is None:
        from bridge.cli.context import open_store
        from bridge.expert_answers import experts_payload

        with open_store(data) as store:
            payload = experts_payload(
                store.settings,
                store.engine,
                query=query,
                community=community,
                limit=limit,
                as_email=as_email,
            )
    click.echo(render(payload, as_json=as_json), nl=False)


def _from_service(data: Path | None, asked: dict[str, Any]) -> dict[str, Any] | None:
    """The running service's answer, or None to compute it here; UsageError when the
    service found the user's mistake (the same line the command would print)."""
    from bridge.local_answers import request_for
    from bridge.local_client import ask
    from bridge.local_socket import socket_path
    from bridge.settings_peek import peek

    place = peek(data)
    if place is None:
        return None
    answer = ask(socket_path(place.data), request_for(place, "experts", asked))
    if answer is None:
        return None
    if answer.get("kind") == "usage" and isinstance(answer.get("error"), str):
        raise UsageError(answer["error"])
    payload = answer.get("answer")
    return payload if isinstance(payload, dict) else None


def render(payload: dict[str, Any], *, as_json: bool) -> str:
    """The command's output for an answer (`experts_payload`'s shape), newline-ended."""
    import json

    people: list[dict[str, Any]] = payload["people"]
    if as_json:
        return json.dumps({"query": payload["query"], "people": people}, ensure_ascii=False) + "\n"
    if not people:
        return f"Nobody found for {payload['query']!r}.\n"
    lines = []
    if payload["expanded"]:
        lines.append(f"also looked for: {', '.join(payload['expanded'])}")
    for n, p in enumerate(people, start=1):
        name, address = p["name"], p.get("address")
        who = f"{name} <{address}>" if address and name else name or address
        when = (
            datetime.fromisoformat(p["last_active"]).date().isoformat() if p["last_active"] else "-"
        )
        threads = ", ".join(str(t) for t in p["threads"][:5])
        lines.append(f"{n:>3}  {p['score']:>8.2f}  {who}\n     last {when}; threads {threads}")
    return "".join(f"{line}\n" for line in lines)
