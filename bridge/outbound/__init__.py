"""Mail the bridge sends: what is queued, and the sender role that delivers it.

posts.py queues copies of a thread's messages, notices.py one-off notices,
held.py the answers to held mail its sender can act on, opened.py the mail a
candidate's opening releases; delivery.py hands due mail to the relay or the
outbox, and sender.py is the role that runs all of it in rounds.
"""
