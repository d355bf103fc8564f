"""Admin operations shared by the CLI and the admin pages: one implementation each.

Each operation takes a Connection and writes in its caller's transaction
(`with writer(engine).begin() as conn: admin.set_member(conn, ...)`), so a
caller can check and act in one transaction. The two that act after their
commit, `decide` (runs an approved message, delivers a rejection notice) and
`reprocess` (runs the pipeline), take the core and open their own; their
writes are `record_decision` and `mark_pending`.

Every operation that changes who may do what, or what the bridge does with
mail, writes an audit entry in the same transaction (`audit_log`: who, what,
when, the state before and after), so the record cannot miss an action that
happened or claim one that did not.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge.core import Core
from bridge.errors import UsageError
from bridge.pipeline.rules import ADMIN_ONLY
from bridge.settings import Settings
from mail.headers import clean_text
from mail.imap import parse_after_action, parse_imap_url
from threads import search
from threads.db import writer
from threads.models import (
    Attachment,
    AuditEntry,
    Community,
    HoldKind,
    ImapFolder,
    Membership,
    Message,
    ModerationDecision,
    Person,
    Posting,
    RawMessage,
    RawState,
    Role,
    Route,
    RouteKind,
    RoutePolicy,
    Visibility,
    WebSession,
    utcnow,
)
from threads.people import InvalidAddress, normalize_email, try_normalize
from threads.store import refresh_thread

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_community(
    conn: Connection,
    slug: str,
    name: str,
    visibility: str = "org",
    description: str = "",
    addresses: list[str] | None = None,
    *,
    posting: str = "org",
    actor: str = "cli",
) -> int:
    if not _SLUG.match(slug):
        raise UsageError(f"slug '{slug}': use lower-case letters, digits and '-' (max 63)")
    _check_choices(visibility, posting)
    try:
        cid = conn.execute(
            insert(Community.__table__).values(
                slug=slug,
                name=name,
                description=description,
                visibility=visibility,
                posting=posting,
                archived=False,
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]
    except IntegrityError as exc:
        raise UsageError(f"community '{slug}' already exists") from exc
    for address in addresses or []:
        _insert_route(conn, cid, RouteKind.address, address)
    audit(conn, actor, "community.create", slug, None, _community_state(conn, cid))
    return int(cid)


def add_route(
    conn: Connection,
    slug: str,
    kind: str,
    value: str,
    *,
    policy: str = RoutePolicy.open.value,
    cc_threshold: int = 0,
    actor: str = "cli",
) -> None:
    """Route an address or List-Id to `slug`; open unless told consent (a cc'd
    community address is an explicit choice to publish)."""
    _check_policy(policy, cc_threshold)
    cid = _community_id(conn, slug)
    stored = _insert_route(conn, cid, RouteKind(kind), value, policy, cc_threshold)
    after = {"kind": str(kind), "value": stored, "policy": policy, "cc_threshold": cc_threshold}
    audit(conn, actor, "route.add", slug, None, after)


def _check_policy(policy: str, cc_threshold: int) -> None:
    if policy not in RoutePolicy.__members__:
        raise UsageError(f"policy '{policy}': choose open or consent")
    if not 0 <= cc_threshold <= 1000:
        raise UsageError(f"cc threshold {cc_threshold}: give a number from 0 to 1000")


def set_route_policy(
    conn: Connection,
    slug: str,
    target: str,
    *,
    policy: str | None = None,
    cc_threshold: int | None = None,
    actor: str = "cli",
) -> None:
    """Change the policy or cc threshold of one of `slug`'s routes or IMAP folders.

    `target` is the route's address or List-Id, or the folder's URL. Mail
    already kept or published is not revisited: the change applies to mail
    processed from now on (`bridge reprocess --all` re-runs ignored mail).
    """
    cid = _community_id(conn, slug)
    table, key = _policy_row(conn, cid, slug, target)
    row = conn.execute(select(table.c.policy, table.c.cc_threshold).where(key)).one()
    before = {"policy": str(row.policy), "cc_threshold": int(row.cc_threshold)}
    after = {
        "policy": policy if policy is not None else before["policy"],
        "cc_threshold": cc_threshold if cc_threshold is not None else before["cc_threshold"],
    }
    _check_policy(str(after["policy"]), int(after["cc_threshold"]))
    if after == before:
        return
    conn.execute(update(table).where(key).values(**after))
    what = "route.imap.policy" if table is ImapFolder.__table__ else "route.policy"
    audit(conn, actor, what, f"{slug} {target}", before, after)


def _policy_row(conn: Connection, cid: int, slug: str, target: str) -> tuple[Any, Any]:
    """The route or folder row `target` names in community `cid`, as (table, where)."""
    r, f = Route.__table__, ImapFolder.__table__
    if "://" in target:
        try:
            url = str(parse_imap_url(target))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        where = (f.c.community_id == cid) & (f.c.url == url)
        if conn.execute(select(f.c.id).where(where)).first() is None:
            raise UsageError(f"community '{slug}' polls no IMAP folder {url}")
        return f, where
    value = target.strip().strip("<>").lower()
    where = (r.c.community_id == cid) & (r.c.value == value)
    if conn.execute(select(r.c.id).where(where)).first() is None:
        raise UsageError(f"community '{slug}' has no route '{value}'")
    return r, where


def list_routes(conn: Connection) -> list[dict[str, Any]]:
    """Every route and polled folder with its community, policy and cc threshold."""
    r, f, c = Route.__table__, ImapFolder.__table__, Community.__table__
    out = [
        {
            "community": row.slug,
            "kind": str(row.kind),
            "value": row.value,
            "policy": str(row.policy),
            "cc_threshold": int(row.cc_threshold),
        }
        for row in conn.execute(
            select(c.c.slug, r.c.kind, r.c.value, r.c.policy, r.c.cc_threshold)
            .join(c, c.c.id == r.c.community_id)
            .order_by(c.c.slug, r.c.kind, r.c.value)
        )
    ]
    out += [
        {
            "community": row.slug,
            "kind": "imap",
            "value": row.url,
            "policy": str(row.policy),
            "cc_threshold": int(row.cc_threshold),
        }
        for row in conn.execute(
            select(c.c.slug, f.c.url, f.c.policy, f.c.cc_threshold)
            .join(c, c.c.id == f.c.community_id)
            .order_by(c.c.slug, f.c.url)
        )
    ]
    return out


def remove_route(conn: Connection, slug: str, kind: str, value: str, *, actor: str = "cli") -> None:
    r = Route.__table__
    value = value.strip().strip("<>").lower()
    cid = _community_id(conn, slug)
    gone = conn.execute(
        delete(r).where(r.c.community_id == cid, r.c.kind == kind, r.c.value == value)
    ).rowcount
    if not gone:
        raise UsageError(f"community '{slug}' has no {kind} route '{value}'")
    audit(conn, actor, "route.remove", slug, {"kind": str(kind), "value": value}, None)


def add_imap_route(
    conn: Connection,
    slug: str,
    url: str,
    *,
    password_env: str = "",
    secret_file: str = "",
    after: str = "leave",
    origin: str = "cli",
    replace: bool = False,
    policy: str = RoutePolicy.consent.value,
    cc_threshold: int = 0,
    actor: str = "cli",
) -> str:
    """Poll an IMAP folder into community `slug`; returns the normalised URL.

    The secret is only named (an environment variable or a file path) and read
    by the poller at each login: the database never holds it. `replace` updates
    an existing row (settings-configured folders), keeping its checkpoint.
    A connected mailbox is someone's inbox: consent unless the admin says open.
    """
    _check_policy(policy, cc_threshold)
    try:
        parsed, action = parse_imap_url(url), parse_after_action(after)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if bool(password_env) == bool(secret_file):
        raise UsageError("an IMAP route needs exactly one of --password-env VAR or --secret-file")
    if password_env and not _ENV_NAME.match(password_env):
        raise UsageError(f"--password-env '{password_env}' is not an environment variable name")
    values = {
        "url": str(parsed),
        "password_env": password_env,
        # Absolute: `bridge serve` may run from another directory than `route add`.
        "secret_file": str(Path(secret_file).expanduser().resolve()) if secret_file else "",
        "after_action": str(action),
        "origin": origin,
        "policy": policy,
        "cc_threshold": cc_threshold,
    }
    folders = ImapFolder.__table__
    cid = conn.execute(select(Community.id).where(Community.slug == slug)).scalar()
    if cid is None:
        raise UsageError(f"no community '{slug}'")
    found = conn.execute(select(folders.c.id).where(folders.c.url == values["url"])).scalar()
    if found is not None and not replace:
        raise UsageError(f"IMAP folder {values['url']} is already routed")
    if found is not None:
        conn.execute(
            update(folders).where(folders.c.id == found).values(community_id=cid, **values)
        )
    else:
        try:
            conn.execute(
                insert(folders).values(
                    community_id=cid,
                    uidvalidity=None,
                    last_uid=0,
                    lease_holder="",
                    lease_until=None,
                    created_at=utcnow(),
                    **values,
                )
            )
        except IntegrityError as exc:
            raise UsageError(f"IMAP folder {values['url']} is already routed") from exc
    if origin != "settings":  # settings are written at every start; they are not actions
        audit(
            conn,
            actor,
            "route.imap",
            slug,
            {"url": values["url"]} if found is not None else None,
            {k: v for k, v in values.items() if k != "origin"},
        )
    return values["url"]


def _insert_route(
    conn: Connection,
    community_id: int,
    kind: RouteKind,
    value: str,
    policy: str = RoutePolicy.open.value,
    cc_threshold: int = 0,
) -> str:
    value = value.strip().strip("<>").lower()
    if kind == RouteKind.address and not _ADDRESS.match(value):
        raise UsageError(f"'{value}' is not an e-mail address")
    if not value:
        raise UsageError("a route needs a value")
    try:
        conn.execute(
            insert(Route.__table__).values(
                community_id=community_id,
                kind=kind,
                value=value,
                policy=policy,
                cc_threshold=cc_threshold,
            )
        )
    except IntegrityError as exc:
        raise UsageError(f"{kind} '{value}' is already routed") from exc
    return value


def reprocess(core: Core, which: str) -> Counter[str]:
    """Set the chosen raw messages pending again and run them; filed ones are re-filed.

    Takes the core, not a connection: the pipeline runs them after the commit
    that marks them pending, in transactions of its own.
    """
    with writer(core.engine).begin() as conn:
        ids = mark_pending(conn, which)
    counts: Counter[str] = Counter()
    for start in range(0, len(ids), 200):
        counts.update(o.state.value for o in core.pipeline.run(ids[start : start + 200]))
    return counts


def mark_pending(conn: Connection, which: str) -> list[int]:
    """Set the raw messages `which` names (failed, held, all) pending again; their ids.

    With `all`, their filed messages become placeholders again, to be re-filed.
    """
    raw = RawMessage.__table__
    states = {
        "failed": [RawState.failed],
        "held": [RawState.held],
        "all": [
            RawState.failed,
            RawState.held,
            RawState.done,
            RawState.duplicate,
            RawState.pending,
            # Consent: decisions are kept (threads/consent.py rows outlive a re-run),
            # and ignored mail meets the route's threshold of today.
            RawState.candidate,
            RawState.private,
            RawState.ignored,
        ],
    }[which]
    ids = list(conn.execute(select(raw.c.id).where(raw.c.state.in_(states))).scalars())
    if which == "all":
        _unfile(conn, ids)
    if ids:
        conn.execute(update(raw).where(raw.c.id.in_(ids)).values(state=RawState.pending))
    return ids


def _unfile(conn: Connection, raw_ids: list[int]) -> None:
    """Turn the messages of these raws back into placeholders, keeping threads joined."""
    m, a = Message.__table__, Attachment.__table__
    rows = conn.execute(select(m.c.id, m.c.thread_id).where(m.c.raw_id.in_(raw_ids))).all()
    for pk, _ in rows:
        search.unindex_message(conn, pk)
    pks = [pk for pk, _ in rows]
    if pks:
        conn.execute(a.delete().where(a.c.message_pk.in_(pks)))
        conn.execute(
            update(m)
            .where(m.c.id.in_(pks))
            .values(
                placeholder=True,
                raw_id=None,
                visible_text="",
                quoted_text="",
                signature="",
                html=None,
                subject="",
                norm_subject="",
                reply_without_refs=False,
            )
        )
    for tid in {tid for _, tid in rows}:
        refresh_thread(conn, tid)


# --- audit log, people, memberships, community settings ---------------------------------


def audit(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Record an admin action in the caller's transaction."""
    conn.execute(
        insert(AuditEntry.__table__).values(
            at=utcnow(), actor=actor, action=action, target=target, before=before, after=after
        )
    )


def audit_log(conn: Connection, *, limit: int = 200) -> list[Any]:
    a = AuditEntry.__table__
    return list(conn.execute(select(a).order_by(a.c.id.desc()).limit(limit)))


def _check_choices(visibility: str, posting: str) -> None:
    if visibility not in Visibility.__members__:
        raise UsageError(f"visibility '{visibility}': choose org, members or public")
    if posting not in Posting.__members__:
        raise UsageError(f"posting '{posting}': choose members, org or anyone")


def _community_id(conn: Connection, slug: str) -> int:
    cid = conn.execute(select(Community.id).where(Community.slug == slug)).scalar()
    if cid is None:
        raise UsageError(f"no community '{slug}'")
    return int(cid)


def _community_state(conn: Connection, cid: int) -> dict[str, Any]:
    c = Community.__table__
    row = conn.execute(
        select(
            c.c.slug, c.c.name, c.c.description, c.c.visibility, c.c.posting, c.c.archived
        ).where(c.c.id == cid)
    ).one()
    return {k: (str(v) if k in ("visibility", "posting") else v) for k, v in row._mapping.items()}


def edit_community(
    conn: Connection,
    slug: str,
    *,
    actor: str = "cli",
    name: str | None = None,
    description: str | None = None,
    visibility: str | None = None,
    posting: str | None = None,
    archived: bool | None = None,
) -> None:
    """Change a community's settings; only the given fields change."""
    changes = {
        k: v
        for k, v in {
            "name": name,
            "description": description,
            "visibility": visibility,
            "posting": posting,
            "archived": archived,
        }.items()
        if v is not None
    }
    if name is not None and not name.strip():
        raise UsageError("a community needs a name")
    cid = _community_id(conn, slug)
    before = _community_state(conn, cid)
    _check_choices(visibility or before["visibility"], posting or before["posting"])
    if not changes:
        return
    conn.execute(update(Community.__table__).where(Community.id == cid).values(**changes))
    after = _community_state(conn, cid)
    if after != before:
        action = "community.archive" if changes.get("archived") else "community.edit"
        audit(conn, actor, action, slug, before, after)


def ensure_person(conn: Connection, email: str, name: str = "") -> tuple[int, str]:
    """The person for `email` (created if new): (id, normalised address)."""
    try:
        key = normalize_email(email)
    except InvalidAddress as exc:
        raise UsageError(f"'{email}': {exc}") from exc
    p = Person.__table__
    pid = conn.execute(select(p.c.id).where(p.c.email == key)).scalar()
    if pid is None:
        try:
            with conn.begin_nested():
                pid = conn.execute(
                    insert(p).values(
                        email=key, name=name, created_at=utcnow(), is_admin=False, disabled=False
                    )
                ).inserted_primary_key[0]
        except IntegrityError:  # someone else created it meanwhile
            pid = conn.execute(select(p.c.id).where(p.c.email == key)).scalar_one()
    return int(pid), key


def _person_flags(conn: Connection, pid: int) -> dict[str, Any]:
    p = Person.__table__
    row = conn.execute(select(p.c.is_admin, p.c.disabled).where(p.c.id == pid)).one()
    return {"is_admin": bool(row.is_admin), "disabled": bool(row.disabled)}


def set_admin(conn: Connection, email: str, admin: bool = True, *, actor: str = "cli") -> str:
    """Grant (or revoke) bridge-wide admin rights; returns the normalised address."""
    pid, key = ensure_person(conn, email)
    before = _person_flags(conn, pid)
    conn.execute(update(Person.__table__).where(Person.id == pid).values(is_admin=admin))
    after = _person_flags(conn, pid)
    if after != before:
        audit(conn, actor, "admin.grant" if admin else "admin.revoke", key, before, after)
    return key


def set_disabled(conn: Connection, email: str, disabled: bool = True, *, actor: str = "cli") -> str:
    """Disable a person (ends their sessions) or enable them again."""
    pid, key = ensure_person(conn, email)
    before = _person_flags(conn, pid)
    conn.execute(update(Person.__table__).where(Person.id == pid).values(disabled=disabled))
    if disabled:
        conn.execute(delete(WebSession.__table__).where(WebSession.person_id == pid))
    after = _person_flags(conn, pid)
    if after != before:
        action = "person.disable" if disabled else "person.enable"
        audit(conn, actor, action, key, before, after)
    return key


def set_member(
    conn: Connection, slug: str, email: str, role: str | None = "member", *, actor: str = "cli"
) -> str:
    """Make `email` a member or moderator of `slug`, or (role None) remove them."""
    if role is not None and role not in Role.__members__:
        raise UsageError(f"role '{role}': choose member or moderator")
    ms = Membership.__table__
    cid = _community_id(conn, slug)
    pid, key = ensure_person(conn, email)
    old = conn.execute(
        select(ms.c.role).where(ms.c.community_id == cid, ms.c.person_id == pid)
    ).scalar()
    if old == role:
        return key
    if old is not None:
        conn.execute(delete(ms).where(ms.c.community_id == cid, ms.c.person_id == pid))
    if role is not None:
        conn.execute(
            insert(ms).values(community_id=cid, person_id=pid, role=role, created_at=utcnow())
        )
    audit(
        conn,
        actor,
        "member.remove" if role is None else "member.set",
        f"{slug} {key}",
        {"role": str(old)} if old is not None else None,
        {"role": role} if role is not None else None,
    )
    return key


def members(conn: Connection, community_id: int) -> list[Any]:
    ms, p = Membership.__table__, Person.__table__
    return list(
        conn.execute(
            select(p.c.email, p.c.name, p.c.disabled, ms.c.role)
            .join(p, p.c.id == ms.c.person_id)
            .where(ms.c.community_id == community_id)
            .order_by(ms.c.role.desc(), p.c.email)
        )
    )


# --- held mail: approve, reject, discard -----------------------------------------------

DECISIONS = ("approve", "reject", "discard")


@dataclass(frozen=True, slots=True)
class HeldMessage:
    id: int
    received_at: Any
    source: str
    sender: str
    subject: str
    reason: str
    community_ids: tuple[int, ...]  # where it would go; empty when it has no route
    kind: HoldKind | None = None
    auth: str = ""  # the sender-authentication verdict, as `bridge log` shows it


def held_messages(core: Core, *, limit: int = 200) -> list[HeldMessage]:
    """Held raw messages, newest first, each with the communities it routes to."""
    from bridge.pipeline import steps
    from mail.parse import parse_message

    raw = RawMessage.__table__
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(raw).where(raw.c.state == RawState.held).order_by(raw.c.id.desc()).limit(limit)
        ).all()
        routes = steps.load_routes(conn)
    out = []
    for row in rows:
        view = steps.RawView(
            row.id,
            row.data,
            row.source,
            row.mail_from,
            list(row.rcpt_to or []),
            row.community_hint,
            row.sha256,
            row.source_ref,
        )
        try:
            parsed = parse_message(row.data)
            sender = parsed.from_.address if parsed.from_ else row.mail_from
            ids = tuple(ref.id for ref in steps.route(routes, view, parsed))
        except Exception:  # no route, or unparseable: admins only
            sender, ids = row.mail_from, ()
        kind = HoldKind(row.hold_kind) if row.hold_kind else None
        out.append(
            HeldMessage(
                row.id,
                row.received_at,
                row.source,
                sender,
                row.subject,
                row.reason,
                ids,
                kind,
                auth_summary(row.auth),
            )
        )
    return out


def decide(
    core: Core,
    raw_id: int,
    decision: str,
    *,
    actor: str,
    actor_is_admin: bool,
    reason: str = "",
) -> str:
    """A moderator's answer to a held message; returns the message's state afterwards.

    approve: run it again with the judgement holds lifted (bridge/pipeline/steps.py
    authorize). reject: mark it rejected and mail the sender the reason.
    discard: mark it discarded, silently. The raw bytes are always kept.
    Confidential holds are released by admins only.

    Takes the core, not a connection: after the decision commits, an approved
    message runs through the pipeline and a rejection's notice is delivered.
    """
    from bridge.outbound.notices import deliver_if_local

    with writer(core.engine).begin() as conn:
        done = record_decision(
            conn,
            core.settings,
            raw_id,
            decision,
            actor=actor,
            actor_is_admin=actor_is_admin,
            reason=reason,
        )
    if decision == "approve":
        outcomes = core.pipeline.run([raw_id])
        return str(outcomes[0].state) if outcomes else str(RawState.pending)
    if done.notice is not None:
        deliver_if_local(core.engine, core.settings, done.notice)
    return str(done.state)


@dataclass(frozen=True, slots=True)
class Decided:
    state: RawState  # the raw message's state once the decision commits
    notice: int | None  # the queued rejection notice, to deliver after the commit


def record_decision(
    conn: Connection,
    settings: Settings,
    raw_id: int,
    decision: str,
    *,
    actor: str,
    actor_is_admin: bool,
    reason: str = "",
) -> Decided:
    """Record a decision on a held message in the caller's transaction (see `decide`)."""
    from bridge.outbound.posts import queue_notice_in

    if decision not in DECISIONS:
        raise UsageError(f"decision '{decision}': choose approve, reject or discard")
    reason = reason.strip()
    if decision == "reject" and not reason:
        raise UsageError("a rejection needs a reason: it is mailed to the sender")
    raw, md = RawMessage.__table__, ModerationDecision.__table__
    notice: int | None = None
    row = conn.execute(
        select(
            raw.c.state,
            raw.c.reason,
            raw.c.hold_kind,
            raw.c.subject,
            raw.c.mail_from,
            raw.c.data,
        ).where(raw.c.id == raw_id)
    ).first()
    if row is None or row.state != RawState.held:
        raise UsageError(f"message {raw_id} is not held")
    if row.hold_kind in ADMIN_ONLY and not actor_is_admin:
        what = {HoldKind.confidential: "confidential mail"}.get(
            row.hold_kind, "mail whose sender is not authenticated"
        )
        raise UsageError(f"{what} is released or rejected by an admin only")
    conn.execute(
        insert(md).values(raw_id=raw_id, decision=decision, actor=actor, reason=reason, at=utcnow())
    )
    state, why = {
        "approve": (RawState.pending, ""),
        "reject": (RawState.rejected, f"rejected by a moderator: {reason}"),
        "discard": (RawState.discarded, "discarded by a moderator"),
    }[decision]
    conn.execute(
        update(raw).where(raw.c.id == raw_id).values(state=state, reason=why, hold_kind=None)
    )
    audit(
        conn,
        actor,
        f"held.{decision}",
        f"raw {raw_id}",
        {"state": str(row.state), "reason": row.reason},
        {"state": str(state), "reason": why or reason},
    )
    if decision == "reject" and (to := _sender_of(row.data, row.mail_from)):
        # Queued in the rejection's own transaction: both happen, or neither.
        subject = clean_text(row.subject)
        notice, _ = queue_notice_in(
            conn,
            settings,
            to,
            f"Not published: {subject}"[:200],
            f'Your message "{subject}" was not published.\n\nThe moderator\'s reason:\n\n'
            f"  {reason}\n",
            kind="notice",
        )
    return Decided(state, notice)


def _sender_of(data: bytes, mail_from: str) -> str:
    """Where a rejection goes: the From address (the envelope sender if there is none)."""
    from email.parser import BytesHeaderParser
    from email.utils import parseaddr

    header = BytesHeaderParser().parsebytes(data).get("From", "")
    return try_normalize(parseaddr(str(header))[1]) or try_normalize(mail_from) or ""


def incoming_log(conn: Connection, *, state: str | None = None, limit: int = 200) -> list[Any]:
    """Each raw message's time, source, envelope, subject, state and reason (newest first)."""
    raw = RawMessage.__table__
    stmt = (
        select(
            raw.c.id,
            raw.c.received_at,
            raw.c.source,
            raw.c.mail_from,
            raw.c.rcpt_to,
            raw.c.message_id,
            raw.c.subject,
            raw.c.state,
            raw.c.reason,
            raw.c.hold_kind,
            raw.c.auth,
        )
        .order_by(raw.c.id.desc())
        .limit(limit)
    )
    if state:
        stmt = stmt.where(raw.c.state == state)
    return list(conn.execute(stmt))


def auth_summary(auth: Any) -> str:
    """'auth: dkim=pass spf=pass dmarc=pass' from a stored verdict ('' when none was made)."""
    if not auth:
        return ""
    note = str(auth.get("note", ""))
    if auth.get("from_domain") is None:
        return f"auth: {note}" if note else ""
    from mail.sender_auth.verdict import Verdict

    text = Verdict.from_json(auth).summary()
    return f"auth: {text}" + (f" ({note})" if note else "")
