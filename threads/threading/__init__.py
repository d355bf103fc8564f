"""Conversation threading: which messages belong together, and how they nest.

Pure functions only (no I/O, no database), so the storage layer, the corpus
benchmark and the tests share one definition of "same conversation":

* ``parse_msgid_list`` / ``reference_chain`` turn In-Reply-To and References
  (RFC 5322 section 3.6.4) into a message's ancestors, oldest to nearest, as in
  Jamie Zawinski's threading algorithm ("JWZ", the one Netscape 3 and most
  mail readers since use);
* ``thread_index_key`` reads the conversation part of Outlook's Thread-Index;
* ``normalize_subject`` / ``may_answer`` / ``best_root`` implement a deliberately
  narrow subject fallback for replies whose client dropped every reference;
* ``group_threads`` is the batch oracle: the partition of messages into
  threads, independent of arrival order;
* ``build_tree`` / ``order_for_display`` lay out one thread for reading.

The parts: msgids.py (identifiers and references), subjects.py, grouping.py (the
subject fallback and the partition), display.py (the tree).
"""

from threads.threading.display import TreeNode, build_tree, order_for_display
from threads.threading.grouping import (
    CLOCK_SKEW,
    SUBJECT_WINDOW,
    ThreadCandidate,
    ThreadInput,
    best_root,
    group_threads,
    may_answer,
    subject_candidate,
    subject_links,
    thread_input,
)
from threads.threading.msgids import (
    MAX_REFERENCES,
    looks_like_msgid,
    parse_msgid_list,
    reference_chain,
    thread_index_key,
)
from threads.threading.subjects import has_reply_prefix, normalize_subject, thread_title

__all__ = [
    "CLOCK_SKEW",
    "MAX_REFERENCES",
    "SUBJECT_WINDOW",
    "ThreadCandidate",
    "ThreadInput",
    "TreeNode",
    "best_root",
    "build_tree",
    "group_threads",
    "has_reply_prefix",
    "looks_like_msgid",
    "may_answer",
    "normalize_subject",
    "order_for_display",
    "parse_msgid_list",
    "reference_chain",
    "subject_candidate",
    "subject_links",
    "thread_index_key",
    "thread_input",
    "thread_title",
]
