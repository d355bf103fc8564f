"""Schema: migrations are the only source of the schema and match the models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from tests.support.env import settings_for
from threads.db import make_engine, migrate, writer

if TYPE_CHECKING:
    from bridge.core import Core


def test_migrations_match_models(tmp_path: Path) -> None:
    """After upgrading, autogenerate finds nothing to change (no forgotten migration)."""
    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # The full-text tables (FTS5 and its shadow tables, or PostgreSQL's tsvector
    # table) are created by the migration on purpose and have no model.
    diff = [d for d in diff if not _is_search_index(d)]
    assert diff == []


def test_upgrade_twice_keeps_data(tmp_path: Path) -> None:
    """Starting again on an existing database changes nothing and keeps the rows."""
    from bridge import admin

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine)
    with writer(engine).begin() as conn:
        admin.add_community(conn, "eng", "Engineering")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT slug FROM community").scalars().all() == ["eng"]


def downgrade(engine: Engine, revision: str) -> None:
    """Alembic's downgrade to `revision`, on the engine's database."""
    from alembic import command
    from alembic.config import Config

    from threads.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _is_search_index(diff: object) -> bool:
    if isinstance(diff, tuple) and diff[0] in ("remove_table", "remove_index"):
        return getattr(diff[1], "name", "").startswith(("message_fts", "ix_message_fts"))
    return False


def test_upgrade_from_first_revision_keeps_rows(tmp_path: Path) -> None:
    """A database filled under revision 0001 upgrades to head with every row intact."""
    from sqlalchemy import text

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO raw_message (sha256, data, size, source, source_ref, community_hint,"
                " mail_from, rcpt_to, received_at, state, reason, attempts, message_id, subject)"
                " VALUES ('h', :d, 3, 'smtp', '', '', '', '[]', :t, 'pending', '', 0, 'm', 's')"
            ),
            {"d": b"abc", "t": "2026-03-02 09:00:00"},
        )
    migrate(engine)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT data, state, claimed_by FROM raw_message")).one()
    assert (bytes(row[0]), row[1], row[2]) == (b"abc", "pending", "")


def test_upgrade_to_0010_copies_candidates_participants(tmp_path: Path) -> None:
    """Candidates made under 0009 keep their participants as rows after 0010."""
    import json

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from threads import consent
    from threads.db import MIGRATIONS

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
    people = [{"name": "Ana", "address": "ana@example.com"}, {"name": "", "address": "b@x.test"}]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO community (slug, name, description, visibility, posting,"
                " archived, created_at) VALUES ('eng', 'Eng', '', 'org', 'org', false,"
                " '2026-03-02 09:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO consent_candidate (community_id, starter, starter_name, subject,"
                " excerpt, participants, org_recipients, live, state, created_at, decided_by,"
                " decided_via) VALUES (1, 'ana@example.com', 'Ana', 'Plan', '', :p, 2, true,"
                " 'candidate', '2026-03-02 09:00:00', '', '')"
            ),
            {"p": json.dumps(people)},
        )
    migrate(engine)
    with engine.connect() as conn:
        assert [c.subject for c in consent.candidates_of(conn, "B@X.test")] == ["Plan"]
        assert consent.waiting_count(conn, "ana@example.com") == 1
        assert consent.waiting_count(conn, "zed@example.com") is None


def test_upgrade_to_0014_types_holds_and_drops_non_members_follows(tmp_path: Path) -> None:
    """Held rows get their kind from the old wording; non-members' follows of members-only go."""
    from sqlalchemy import text

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0012")
    at = "'2026-03-02 09:00:00'"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO community (id, slug, name, description, visibility, posting, archived,"
                f" created_at) VALUES (1, 'hr', 'HR', '', 'members', 'org', false, {at})"
            )
        )
        for pid, email, is_admin in ((1, "ana@org.test", False), (2, "root@org.test", True)):
            conn.execute(
                text(
                    "INSERT INTO person (id, email, name, is_admin, disabled, created_at)"
                    f" VALUES (:id, :email, '', :admin, false, {at})"
                ),
                {"id": pid, "email": email, "admin": is_admin},
            )
        conn.execute(
            text(
                "INSERT INTO membership (community_id, person_id, role, created_at)"
                f" VALUES (1, 1, 'member', {at})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO thread (id, community_id, subject, message_count,"
                " original_recipients) VALUES (1, 1, 'Pay', 0, 0)"
            )
        )
        for address in ("ana@org.test", "root@org.test", "mallory@evil.test"):
            conn.execute(
                text(
                    "INSERT INTO thread_subscription (thread_id, address, state, updated_at)"
                    f" VALUES (1, :a, 'watching', {at})"
                ),
                {"a": address},
            )
        for n, reason in enumerate(
            ("bounce: delivery status notification for x@y.test", "confidential: label 'x'")
        ):
            conn.execute(
                text(
                    "INSERT INTO raw_message (sha256, data, size, source, source_ref,"
                    " community_hint, mail_from, rcpt_to, received_at, state, reason, attempts,"
                    f" message_id, subject, claimed_by) VALUES (:sha, :data, 3, 'smtp', '', '',"
                    f" '', '[]', {at}, 'held', :reason, 1, '', '', '')"
                ),
                {"sha": f"{n:064d}", "data": b"abc", "reason": reason},
            )
    migrate(engine)
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT hold_kind FROM raw_message ORDER BY id")).scalars()
        assert list(kinds) == ["bounce", "confidential"]
        follows = conn.execute(text("SELECT address FROM thread_subscription ORDER BY address"))
        assert list(follows.scalars()) == ["ana@org.test", "root@org.test"]


def _core_indexed_before_0016(data: Path) -> Core:
    """A store at revision 0012 whose index holds a sender's address, as it was written then."""
    from alembic import command
    from alembic.config import Config

    from bridge.core import open_core
    from tests.support.factories import create_community, deliver
    from tests.support.messages import make_mail
    from threads.db import MIGRATIONS

    core = open_core(settings_for(data))
    vic = "Vic Vendor <vic.v@vendor.example>"
    create_community(core, visibility="public")
    deliver(core, make_mail(sender=vic, msgid="v@vendor.example"))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with core.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
        # What the index step wrote before: the sender's name and address, as words,
        # in the table's shape of that revision (text the engine tokenized itself).
        row = {"s": "Budget review", "b": "Hello", "f": "Vic Vendor vic.v@vendor.example"}
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DELETE FROM message_fts")
            conn.execute(
                text(
                    "INSERT INTO message_fts(rowid, subject, body, sender) VALUES (1, :s, :b, :f)"
                ),
                row,
            )
        else:
            conn.execute(
                text(
                    "UPDATE message_fts SET tsv = to_tsvector('simple', :s || ' ' || :b || ' ' "
                    "|| :f) WHERE rowid = 1"
                ),
                row,
            )
    return core


def _old_index_holds(core: Core, word: str) -> bool:
    with core.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            q = "SELECT count(*) FROM message_fts WHERE message_fts MATCH :w"
            return bool(conn.execute(text(q), {"w": f'"{word}"'}).scalar_one())
        q = "SELECT count(*) FROM message_fts WHERE tsv @@ plainto_tsquery('simple', :w)"
        return bool(conn.execute(text(q), {"w": word}).scalar_one())


def test_upgrade_takes_addresses_out_of_the_search_index(tmp_path: Path) -> None:
    """An index written with senders' addresses (before 0016) holds none after the upgrade."""
    from threads import search

    core = _core_indexed_before_0016(tmp_path / "data")
    try:

        def found(q: str) -> int:
            with core.engine.connect() as conn:
                return search.run(conn, search.parse_query(q)).total_threads

        assert _old_index_holds(core, "vic")
        migrate(core.engine)
        assert found("vic.v") == 0
        assert found("vendor") == 1  # the name stays
        assert found("budget") == 1
        assert found("reviewing") == 1  # written again with stems (0017)
    finally:
        core.close()


def test_upgrade_to_0017_leaves_one_index_segment_on_sqlite(tmp_path: Path) -> None:
    """Rebuilding every FTS5 row leaves no deleted entries behind: the index is merged."""
    core = _core_indexed_before_0016(tmp_path / "data")
    try:
        if core.engine.dialect.name != "sqlite":
            pytest.skip("FTS5 segments are SQLite's (PostgreSQL's dead rows are vacuumed)")
        migrate(core.engine)
        with core.engine.connect() as conn:
            # FTS5 keeps one row of message_fts_idx per segment of a small index.
            segments = "SELECT count(*) FROM message_fts_idx"
            assert conn.exec_driver_sql(segments).scalar_one() == 1
            hits = "SELECT count(*) FROM message_fts WHERE message_fts MATCH 'budget'"
            assert conn.exec_driver_sql(hits).scalar_one() == 1
    finally:
        core.close()


def test_upgrade_to_0015_cleans_hostile_subjects_and_names(tmp_path: Path) -> None:
    """Rows stored with CR/LF and controls in subjects and names read as one line after 0015."""
    import json

    from sqlalchemy import text

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0012")
    bad = "Hello\r\nBcc: victim@example.com\x1b[31m\u2028\u202eod"
    people = json.dumps(
        [{"name": "Eve\r\nBcc: x@example.net", "address": "eve@example.com"}, {"name": "Zoë"}]
    )
    at = "2026-03-02 09:00:00"
    with engine.begin() as conn:
        run = conn.execute
        run(
            text(
                "INSERT INTO community (slug, name, description, visibility, posting, archived,"
                " created_at) VALUES ('eng', 'Eng', '', 'org', 'org', false, :t)"
            ),
            {"t": at},
        )
        run(
            text(
                "INSERT INTO raw_message (sha256, data, size, source, source_ref, community_hint,"
                " mail_from, rcpt_to, received_at, state, reason, attempts, message_id, subject)"
                " VALUES ('h', :d, 3, 'smtp', '', '', '', '[]', :t, 'held', '', 0, 'm', :s)"
            ),
            {"d": b"abc", "t": at, "s": bad},
        )
        run(
            text(
                "INSERT INTO thread (community_id, subject, message_count, original_recipients)"
                " VALUES (1, :s, 1, 0)"
            ),
            {"s": bad},
        )
        run(
            text(
                "INSERT INTO message (community_id, thread_id, raw_id, placeholder, message_id,"
                " chain, subject, norm_subject, reply_without_refs, opens_thread, subject_linked,"
                " from_name, from_addr, to_addrs, cc_addrs, visible_text, quoted_text, signature,"
                " auto_reply, attachment_count) VALUES (1, 1, 1, false, 'm', '[]', :s, :s, false,"
                " true, false, :n, 'eve@example.com', :p, '[]', 'hi', '', '', false, 0)"
            ),
            {"s": bad, "n": "Eve\r\n\tBcc: x@example.net", "p": people},
        )
        run(
            text(
                "INSERT INTO consent_candidate (community_id, starter, starter_name, subject,"
                " excerpt, participants, org_recipients, live, state, created_at, decided_by,"
                " decided_via) VALUES (1, 'eve@example.com', :n, :s, '', :p, 2, true,"
                " 'candidate', :t, '', '')"
            ),
            {"n": "Eve\u2028", "s": bad, "p": people, "t": at},
        )
        run(
            text(
                "INSERT INTO person (email, name, created_at) VALUES ('z@example.com', 'Zoë', :t)"
            ),
            {"t": at},
        )
    migrate(engine)
    clean = "Hello Bcc: victim@example.com [31m od"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT subject FROM raw_message")).scalar_one() == clean
        assert conn.execute(text("SELECT subject FROM thread")).scalar_one() == clean
        msg = conn.execute(
            text("SELECT subject, norm_subject, from_name, to_addrs, cc_addrs FROM message")
        ).one()
        cand = conn.execute(
            text("SELECT subject, starter_name, participants FROM consent_candidate")
        ).one()
        name = conn.execute(text("SELECT name FROM person")).scalar_one()
    assert (msg.subject, msg.norm_subject) == (clean, clean.casefold())
    assert msg.from_name == "Eve Bcc: x@example.net"
    loaded = [json.loads(v) if isinstance(v, str) else v for v in (msg.to_addrs, cand.participants)]
    expected = [{"name": "Eve Bcc: x@example.net", "address": "eve@example.com"}, {"name": "Zoë"}]
    assert loaded == [expected, expected]
    assert (cand.subject, cand.starter_name, name) == (clean, "Eve", "Zoë")


def test_0018_adds_the_expert_opt_out_and_takes_it_away(tmp_path: Path) -> None:
    """Upgrading from 0016 creates expert_opt_out (an address once); downgrading drops it."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0016")
    assert "expert_opt_out" not in inspect(engine).get_table_names()
    migrate(engine, "0018")
    insert = text("INSERT INTO expert_opt_out (email, created_at) VALUES (:e, '2026-03-02')")
    with engine.begin() as conn:
        conn.execute(insert, {"e": "ana@example.com"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"e": "ana@example.com"})
    downgrade(engine, "0016")
    assert "expert_opt_out" not in inspect(engine).get_table_names()


def test_upgrade_to_0020_keeps_polled_folders_and_their_checkpoints(tmp_path: Path) -> None:
    """A folder polled with a password before 0020 keeps its checkpoint and gets no OAuth
    client and no status; downgrading drops the new columns and keeps the row."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from threads.db import MIGRATIONS

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0016")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO community (slug, name, description, visibility, posting,"
                " archived, created_at) VALUES ('eng', 'Eng', '', 'org', 'org', false,"
                " '2026-03-02 09:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO imap_folder (community_id, url, password_env, secret_file,"
                " after_action, origin, policy, cc_threshold, uidvalidity, last_uid,"
                " lease_holder, created_at) VALUES (1, 'imaps://u@h:993/INBOX', 'PW', '',"
                " 'leave', 'cli', 'open', 0, 42, 7, '', '2026-03-02 09:00:00')"
            )
        )
    migrate(engine)
    query = "SELECT password_env, uidvalidity, last_uid, oauth, status, status_error,"
    query += " token_expires_at FROM imap_folder"
    with engine.connect() as conn:
        assert tuple(conn.execute(text(query)).one()) == ("PW", 42, 7, "", "", "", None)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM imap_folder")).one()
    assert "oauth" not in row._mapping
    assert (row.uidvalidity, row.last_uid) == (42, 7)


def test_upgrade_to_0019_dates_existing_bounces_and_adds_moderation_notices(
    tmp_path: Path,
) -> None:
    """A bounced address is "bouncing since" its last bounce after 0019; no notices yet."""
    from sqlalchemy import text

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0016")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO mail_address (address, hard_bounces, soft_bounces, last_bounce_at,"
                " last_reason, disabled) VALUES ('a@example.com', 2, 0, :t, 'hard', false),"
                " ('b@example.com', 0, 0, NULL, '', false)"
            ),
            {"t": "2026-03-02 09:00:00"},
        )
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT address, first_bounce_at FROM mail_address ORDER BY address")
        ).all()
        notices = conn.execute(text("SELECT count(*) FROM moderation_notice")).scalar_one()
    assert rows[0][1] is not None
    assert str(rows[0][1]).startswith("2026-03-02 09:00:00")
    assert rows[1][1] is None
    assert notices == 0


def test_0023_adds_thread_seen_whose_mark_only_moves_forward(tmp_path: Path) -> None:
    """Upgrading from 0022 creates thread_seen (one row per person and thread, the higher
    mark kept whichever write comes last); downgrading drops it."""
    from sqlalchemy import inspect, select

    from bridge import admin
    from threads.db import insert_keeping_highest
    from threads.models import utcnow
    from threads.unread import SEEN

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0022")
    assert "thread_seen" not in inspect(engine).get_table_names()
    migrate(engine, "0023")
    with writer(engine).begin() as conn:
        community = admin.add_community(conn, "eng", "Engineering")
        person, _ = admin.ensure_person(conn, "ana@example.com")
        thread = conn.execute(
            text(
                "INSERT INTO thread (community_id, subject, message_count, original_recipients)"
                " VALUES (:c, 'Plan', 0, 0) RETURNING id"
            ),
            {"c": community},
        ).scalar_one()
        stmt = insert_keeping_highest(conn, SEEN, ["person_id", "thread_id"], "seen_up_to")
        for mark in (7, 3, 9, 5):
            conn.execute(
                stmt,
                {
                    "person_id": person,
                    "thread_id": thread,
                    "seen_up_to": mark,
                    "seen_at": utcnow(),
                },
            )
    with engine.connect() as conn:
        assert conn.execute(select(SEEN.c.seen_up_to)).scalars().all() == [9]
    downgrade(engine, "0022")
    assert "thread_seen" not in inspect(engine).get_table_names()


def test_0024_adds_a_persons_language_choice_and_takes_it_away(tmp_path: Path) -> None:
    """Upgrading from 0023 adds person.locale (empty for everyone: nobody has chosen);
    downgrading drops it and keeps the people."""
    from sqlalchemy import inspect

    from bridge import admin

    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0023")
    with writer(engine).begin() as conn:
        admin.ensure_person(conn, "ana@example.com")
    assert "locale" not in {c["name"] for c in inspect(engine).get_columns("person")}
    migrate(engine, "0024")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email, locale FROM person")).all() == [
            ("ana@example.com", None)
        ]
    with writer(engine).begin() as conn:
        conn.execute(text("UPDATE person SET locale = 'zh_Hans'"))
    downgrade(engine, "0023")
    assert "locale" not in {c["name"] for c in inspect(engine).get_columns("person")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM person")).scalars().all() == ["ana@example.com"]


def test_0026_adds_learned_signatures_one_row_per_address(tmp_path: Path) -> None:
    """Upgrading from 0024 creates learned_signature (one row per sender address, JSON
    tails and block); downgrading drops it."""
    from sqlalchemy import insert, inspect, select

    from threads.db import insert_ignoring_conflict
    from threads.models import LearnedSignature, utcnow

    learned = LearnedSignature.__table__
    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0024")
    assert "learned_signature" not in inspect(engine).get_table_names()
    migrate(engine, "0026")
    row = {"address": "ana@example.com", "block": ["ab12"], "updated_at": utcnow()}
    with writer(engine).begin() as conn:
        conn.execute(insert(learned), {**row, "tails": [{"m": "x", "p": [1], "k": ["ab12"]}]})
        conn.execute(insert_ignoring_conflict(conn, learned, ["address"]), {**row, "tails": []})
    with engine.connect() as conn:
        assert conn.execute(select(learned.c.tails, learned.c.block)).all() == [
            ([{"m": "x", "p": [1], "k": ["ab12"]}], ["ab12"])
        ]
    downgrade(engine, "0024")
    assert "learned_signature" not in inspect(engine).get_table_names()


def test_0027_rebuilds_the_sqlite_index_with_word_start_entries(tmp_path: Path) -> None:
    """Down to 0026 the FTS5 table has no `prefix` option; up again it has, with the same
    rows, one segment and its vocabulary; word starts and words are found both ways.
    PostgreSQL's index is left as it is."""
    from bridge.core import open_core
    from tests.support.factories import create_community, deliver
    from tests.support.messages import make_mail
    from threads import search

    core = open_core(settings_for(tmp_path / "data"))
    try:
        create_community(core, visibility="public")
        deliver(core, make_mail("Migrating the archive", body="The migration plan, mostly.\n"))
        sqlite = core.engine.dialect.name == "sqlite"

        def created_with() -> str:
            with core.engine.connect() as conn:
                q = "SELECT sql FROM sqlite_master WHERE name = 'message_fts'"
                return str(conn.exec_driver_sql(q).scalar_one())

        def found(q: str) -> int:
            with core.engine.connect() as conn:
                return search.run(conn, search.parse_query(q)).total_threads

        downgrade(core.engine, "0026")
        if sqlite:
            assert "prefix" not in created_with()
        assert [found(q) for q in ("mi*", "migr*", "migration", "migrat*", "zz*")] == [
            1,
            1,
            1,
            1,
            0,
        ]
        migrate(core.engine)
        if sqlite:
            assert "prefix = '2 3 4'" in created_with()
            with core.engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM message_fts_idx").scalar() == 1
                vocab = "SELECT count(*) FROM message_fts_vocab WHERE term = 'migration'"
                assert conn.exec_driver_sql(vocab).scalar() == 1
        assert [found(q) for q in ("mi*", "migr*", "migration", "migrat*", "zz*")] == [
            1,
            1,
            1,
            1,
            0,
        ]
        migrate(core.engine)  # again: nothing to do
        assert found("mostly") == 1
    finally:
        core.close()


def test_0028_marks_the_sqlite_stems_as_words_of_their_own(tmp_path: Path) -> None:
    """Down to 0027 the stems are stored bare ("migrat"), in the exact word's list; up
    again each is a token of its own ("~migrat"), marked once however often the way is
    taken, and inflected words are found both ways. PostgreSQL's index is left as it is."""
    from bridge.core import open_core
    from tests.support.factories import create_community, deliver
    from tests.support.messages import make_mail
    from threads import search

    core = open_core(settings_for(tmp_path / "data"))
    try:
        create_community(core, visibility="public")
        deliver(core, make_mail("Migrating the archive", body="The migrations, planned.\n"))
        sqlite = core.engine.dialect.name == "sqlite"

        def stems() -> list[tuple[str, str]]:
            with core.engine.connect() as conn:
                q = "SELECT subject_stems, body_stems FROM message_fts"
                return [tuple(r) for r in conn.exec_driver_sql(q)]

        def body_stem_terms() -> set[str]:
            with core.engine.connect() as conn:
                q = "SELECT term FROM message_fts_vocab WHERE col = 'body_stems'"
                return {r[0] for r in conn.exec_driver_sql(q)}

        def found(q: str) -> int:
            with core.engine.connect() as conn:
                return search.run(conn, search.parse_query(q)).total_threads

        if sqlite:
            assert stems() == [("~migrat ~archiv", "~migrat ~plan")]
        downgrade(core.engine, "0027")
        if sqlite:
            assert stems() == [("migrat archiv", "migrat plan")]
            assert "migrat" in body_stem_terms()
        assert [found(q) for q in ("migrate", "plans", "archives", "zebra")] == [1, 1, 1, 0]
        migrate(core.engine)
        migrate(core.engine)  # again: nothing to do
        if sqlite:
            assert stems() == [("~migrat ~archiv", "~migrat ~plan")]
            assert body_stem_terms() == {"~migrat", "~plan"}
        assert [found(q) for q in ("migrate", "plans", "archives", "zebra")] == [1, 1, 1, 0]
    finally:
        core.close()
