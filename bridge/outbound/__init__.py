"""Mail the bridge sends: what is queued, and the sender role that delivers it.

posts.py reads what the composer needs (posts, links) and queues notices
inside a caller's transaction, notices.py mails one person a system notice,
held.py does the jobs held mail gives the sender (bounces, reply commands,
misused reply addresses), opened.py announces a candidate's opening to its
people; delivery.py hands due mail to the relay or the outbox, and sender.py
is the role that runs all of it in rounds. Consent nudges are composed in
bridge/pipeline/nudges.py, beside the consent gate that creates candidates.
"""
