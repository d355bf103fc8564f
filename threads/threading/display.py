"""One thread laid out for reading: the reply tree, cycles cut, in display order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from threads.threading.grouping import DATE_FLOOR, require_aware

# --- Display tree -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One message of a thread, as the display tree needs it."""

    message_id: str
    chain: tuple[str, ...]
    date: datetime | None  # timezone-aware
    norm_subject: str

    def __post_init__(self) -> None:
        require_aware(self.date, self.message_id)


def _age(node: TreeNode) -> tuple[bool, datetime, str]:
    """Sort key: dated before undated, then by date, then by message id."""
    return (node.date is None, node.date or DATE_FLOOR, node.message_id)


def _nearest_present(node: TreeNode, present: Mapping[str, TreeNode]) -> str | None:
    for ancestor in reversed(node.chain):
        if ancestor != node.message_id and ancestor in present:
            return ancestor
    return None


def _cut_cycles(parents: dict[str, str | None], present: Mapping[str, TreeNode]) -> None:
    """Make the oldest member of every parent cycle a root.

    Bogus References (a client pasting a later message's id) can make a and b
    each other's ancestor. Each node has one parent, so cycles are disjoint and
    cutting one edge per cycle, chosen by date then id, is order-independent.
    """
    settled: set[str] = set()
    for start in sorted(parents):
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in settled and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = parents[node]
        if node is not None and node in on_path:
            cycle = path[path.index(node) :]
            parents[min(cycle, key=lambda mid: _age(present[mid]))] = None
        settled.update(path)


def _adopt_roots(parents: dict[str, str | None], present: Mapping[str, TreeNode]) -> None:
    """Hang every dated root under the thread's earliest dated root.

    A thread joined through a missing message, a Thread-Index or a subject link
    has several roots; reading it as one conversation needs one top message.
    The earliest root has no earlier root, so no cycle can arise.
    """
    roots = sorted(
        (present[mid] for mid, parent in parents.items() if parent is None),
        key=_age,
    )
    dated = [node for node in roots if node.date is not None]
    for node in dated[1:]:
        parents[node.message_id] = dated[0].message_id


def build_tree(nodes: Sequence[TreeNode]) -> dict[str, str | None]:
    """Display parent of each message of one thread (None for the root(s)).

    The parent is the nearest ancestor in the chain that is present, so the
    children of a missing message hang under the nearest present ancestor.
    Parent cycles are cut, then dated roots are hung under the earliest one.
    Undated roots stay roots. Deterministic whatever the order of `nodes`
    (for a repeated message_id the first node counts).
    """
    present: dict[str, TreeNode] = {}
    for node in nodes:
        present.setdefault(node.message_id, node)
    parents = {mid: _nearest_present(present[mid], present) for mid in sorted(present)}
    _cut_cycles(parents, present)
    _adopt_roots(parents, present)
    return parents


def order_for_display(
    nodes: Sequence[TreeNode], parents: Mapping[str, str | None]
) -> list[tuple[str, int]]:
    """Depth-first reading order as (message_id, depth); siblings by date then id.

    A node whose parent is absent from `nodes` is a root. Every node appears
    exactly once, even if `parents` (not from build_tree) holds a cycle.
    """
    present = {node.message_id: node for node in reversed(nodes)}
    children: dict[str | None, list[TreeNode]] = {}
    for mid, node in present.items():
        parent = parents.get(mid)
        children.setdefault(parent if parent in present else None, []).append(node)
    for siblings in children.values():
        siblings.sort(key=_age)
    order: list[tuple[str, int]] = []
    seen: set[str] = set()
    starts = [node.message_id for node in children.get(None, [])]
    # Nodes on a foreign cycle are reachable from no root: start there last.
    starts += [node.message_id for node in sorted(present.values(), key=_age)]
    for start in starts:
        if start not in seen:
            _walk(start, children, seen, order)
    return order


def _walk(
    start: str,
    children: Mapping[str | None, list[TreeNode]],
    seen: set[str],
    order: list[tuple[str, int]],
) -> None:
    # Iterative: deep reply chains (57 levels on the cgroups corpus, more in
    # the wild) must not depend on the recursion limit.
    stack = [(start, 0)]
    while stack:
        mid, depth = stack.pop()
        if mid in seen:
            continue
        seen.add(mid)
        order.append((mid, depth))
        stack.extend((child.message_id, depth + 1) for child in reversed(children.get(mid, [])))
