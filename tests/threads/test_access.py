"""Identity and access rules: address normal form, roles, visibility and posting policy."""

from __future__ import annotations

import pytest

from bridge import admin
from bridge.core import Core
from bridge.errors import UsageError
from tests.support.factories import create_community
from threads.access import (
    ANONYMOUS,
    may_moderate,
    may_post,
    readable_community_ids,
    viewer_for,
)
from threads.db import writer
from threads.models import AuditEntry
from threads.people import InvalidAddress, is_org_address, normalize_email

ORG = ["example.com"]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Ana@Example.COM", "ana@example.com"),
        ("<ana@example.com>", "ana@example.com"),
        ("\uff21\uff4e\uff41@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "ana@example.com"),
        ("ana+lists@example.com", "ana+lists@example.com"),
        ("jos\u00e9@b\u00fccher.example", "jos\u00e9@xn--bcher-kva.example"),
        ("jose\u0301@example.com", "jos\u00e9@example.com"),
    ],
)
def test_addresses_normalise_to_one_key(raw: str, key: str) -> None:
    """Case, full-width forms and combining marks fold; plus-addressing is kept."""
    assert normalize_email(raw) == key


def test_look_alikes_do_not_collide() -> None:
    """A Cyrillic 'а' is another address and another domain, never the org's."""
    cyrillic = normalize_email("\u0430na@example.com")
    assert cyrillic != normalize_email("ana@example.com")
    assert not is_org_address(normalize_email("ana@ex\u0430mple.com"), ORG)
    assert is_org_address(normalize_email("ana@EXAMPLE.com"), ORG)
    assert not is_org_address(normalize_email("ana@sub.example.com"), ORG)


@pytest.mark.parametrize(
    "raw",
    [
        "ana",
        "ana@example..com",
        "a@b@example.com",
        "a\u200bna@example.com",
        "ana @example.com",
        "@x.com",
    ],
)
def test_unusable_addresses_are_refused(raw: str) -> None:
    """Invisible characters, spaces and malformed domains are not addresses."""
    with pytest.raises(InvalidAddress):
        normalize_email(raw)


@pytest.fixture
def world(core: Core) -> dict[str, int]:
    """Three communities, one of each visibility, and people in each role."""
    ids = {
        "org": create_community(core, slug="orgc", addresses=["orgc@lists.example.com"]),
        "members": create_community(
            core, slug="memc", visibility="members", addresses=["memc@lists.example.com"]
        ),
        "public": create_community(
            core, slug="pubc", visibility="public", addresses=["pubc@lists.example.com"]
        ),
    }
    for slug in ("orgc", "memc", "pubc"):
        with writer(core.engine).begin() as conn:
            admin.set_member(conn, slug, "member@partner.example", "member")
            admin.set_member(conn, slug, "mod@partner.example", "moderator")
    with writer(core.engine).begin() as conn:
        admin.set_admin(conn, "boss@partner.example")
    return ids


@pytest.mark.parametrize(
    ("who", "reads"),
    [
        (None, {"public"}),
        ("stranger@elsewhere.example", {"public"}),
        ("colleague@example.com", {"org", "public"}),
        ("member@partner.example", {"org", "members", "public"}),
        ("mod@partner.example", {"org", "members", "public"}),
        ("boss@partner.example", {"org", "members", "public"}),
    ],
)
def test_readable_communities_per_role(
    core: Core, world: dict[str, int], who: str | None, reads: set[str]
) -> None:
    """Visibility: public for all, org for org readers, members for members, all for admins."""
    with core.engine.connect() as conn:
        viewer = viewer_for(conn, who, ORG) if who else ANONYMOUS
        readable = set(readable_community_ids(conn, viewer))
    assert readable == {world[k] for k in reads}


def test_moderation_and_posting_rights(core: Core, world: dict[str, int]) -> None:
    """Moderators moderate their community; posting follows the community's policy."""
    with writer(core.engine).begin() as conn:
        admin.edit_community(conn, "memc", posting="members")
        admin.edit_community(conn, "pubc", posting="anyone")
    with core.engine.connect() as conn:

        def v(email: str):  # type: ignore[no-untyped-def]
            return viewer_for(conn, email, ORG)

        assert may_moderate(conn, v("mod@partner.example"), world["org"])
        assert not may_moderate(conn, v("member@partner.example"), world["org"])
        assert may_moderate(conn, v("boss@partner.example"), world["members"])
        assert may_post(conn, v("colleague@example.com"), world["org"])
        assert not may_post(conn, v("stranger@elsewhere.example"), world["org"])
        assert may_post(conn, v("stranger@elsewhere.example"), world["public"])
        assert not may_post(conn, ANONYMOUS, world["public"])
        assert may_post(conn, v("member@partner.example"), world["members"])
        assert not may_post(conn, v("colleague@example.com"), world["members"])
    with writer(core.engine).begin() as conn:
        admin.edit_community(conn, "orgc", archived=True)
    with core.engine.connect() as conn:
        assert not may_post(conn, v("mod@partner.example"), world["org"])
        assert world["org"] in readable_community_ids(conn, v("colleague@example.com"))


def test_disabled_person_has_anonymous_rights(core: Core, world: dict[str, int]) -> None:
    """Disabling a member takes away everything but public reading; enabling restores it."""
    with writer(core.engine).begin() as conn:
        admin.set_disabled(conn, "MEMBER@partner.example")
    with core.engine.connect() as conn:
        viewer = viewer_for(conn, "member@partner.example", ORG)
        assert viewer.anonymous
        assert readable_community_ids(conn, viewer) == [world["public"]]
    with writer(core.engine).begin() as conn:
        admin.set_disabled(conn, "member@partner.example", False)
    with core.engine.connect() as conn:
        assert (
            len(readable_community_ids(conn, viewer_for(conn, "member@partner.example", ORG))) == 3
        )


def test_look_alike_member_gets_nothing(core: Core, world: dict[str, int]) -> None:
    """Writing a member's address with a Cyrillic letter gives no member rights."""
    with core.engine.connect() as conn:
        viewer = viewer_for(conn, "m\u0435mber@partner.example", ORG)
        assert readable_community_ids(conn, viewer) == [world["public"]]
        same = viewer_for(conn, "MEMBER@Partner.Example", ORG)
        assert len(readable_community_ids(conn, same)) == 3


def test_admin_actions_are_audited(core: Core) -> None:
    """Each change names who, what and the state before and after; no-ops are not logged."""
    create_community(core, actor="alice@example.com")
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "bob@example.com", "member", actor="alice@example.com")
        admin.set_member(conn, "eng", "bob@example.com", "member", actor="alice@example.com")
        admin.set_member(conn, "eng", "bob@example.com", "moderator", actor="alice@example.com")
        admin.edit_community(conn, "eng", visibility="members", actor="carol@example.com")
    with core.engine.connect() as conn:
        rows = admin.audit_log(conn)
    assert [(r.actor, r.action) for r in reversed(rows)] == [
        ("alice@example.com", "community.create"),
        ("alice@example.com", "member.set"),
        ("alice@example.com", "member.set"),
        ("carol@example.com", "community.edit"),
    ]
    assert (rows[1].before, rows[1].after) == ({"role": "member"}, {"role": "moderator"})
    assert (rows[0].before["visibility"], rows[0].after["visibility"]) == ("org", "members")
    assert AuditEntry.__tablename__ == "audit_log"


def test_bad_input_is_a_usage_error(core: Core) -> None:
    """Unknown communities, roles and addresses are explained, not crashed on."""
    create_community(core)
    with pytest.raises(UsageError, match="no community"), writer(core.engine).begin() as conn:
        admin.set_member(conn, "nope", "a@example.com")
    with pytest.raises(UsageError, match="role"), writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "a@example.com", "owner")
    with pytest.raises(UsageError, match="invisible"), writer(core.engine).begin() as conn:
        admin.set_admin(conn, "a\u200bb@example.com")
    with pytest.raises(UsageError, match="posting"), writer(core.engine).begin() as conn:
        admin.edit_community(conn, "eng", posting="everyone")


def test_senders_become_people_under_the_login_key(core: Core) -> None:
    """A sender seen in mail is stored in the same form a login would look up."""
    from sqlalchemy import select

    from tests.support.factories import deliver
    from threads.models import Person

    create_community(core)
    # An internationalised address as an SMTPUTF8 client sends it: raw UTF-8 in the header.
    raw = (
        "From: Jos\u00e9 <Jos\u00e9@B\u00fccher.example>\nTo: eng@lists.example.com\n"
        "Subject: Hola\nMessage-ID: <j@x.example>\nDate: Mon, 02 Mar 2026 09:00:00 +0000\n"
        "Content-Type: text/plain; charset=utf-8\n\nHola.\n"
    ).encode()
    deliver(core, raw)
    with core.engine.connect() as conn:
        emails = list(conn.execute(select(Person.email)).scalars())
    assert emails == ["jos\u00e9@xn--bcher-kva.example"]
