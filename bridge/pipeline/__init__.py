"""The ingestion pipeline: every message, from any source, through the same named steps.

pipeline.py runs them (one transaction per message), steps.py names them,
rules.py holds the authorization rules, consent_gate.py and nudges.py keep a
consent route's new conversations as candidates and ask their starter,
sender_trust.py authenticates the From, parsepool.py parses in child
processes, and replies.py handles mail that answers ours (reply tokens, reply
commands, thread choices).
"""
