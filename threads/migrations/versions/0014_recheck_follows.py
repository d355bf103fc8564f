"""Follows of members-only communities by people who are not members are removed.

A thread could be followed (watched) from a mailed link by whoever received
one, and such a follow outlived the reason it was made. Copies now go only
to addresses that may read the community (threads/copies.py, applied at each
send); this removes the follows that can never pass that rule whatever the
settings say: those of members-only communities by addresses that are not
(or no longer) members, moderators or admins. The rules that depend on
BRIDGE_ORG_DOMAINS are not knowable here and are applied at send time.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM thread_subscription
        WHERE state = 'watching'
          AND thread_id IN (
              SELECT thread.id FROM thread JOIN community ON community.id = thread.community_id
              WHERE community.visibility = 'members')
          AND address NOT IN (
              SELECT person.email FROM person
              JOIN membership ON membership.person_id = person.id
              JOIN thread ON thread.community_id = membership.community_id
              WHERE thread.id = thread_subscription.thread_id AND NOT person.disabled)
          AND address NOT IN (
              SELECT email FROM person WHERE is_admin AND NOT disabled)
        """
    )


def downgrade() -> None:
    """Removed follows are not restored: they were never to be used again."""
