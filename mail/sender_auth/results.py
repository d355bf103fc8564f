"""Authentication-Results (RFC 8601): parsing the header, and the verdict of a trusted server.

A receiving server records what it checked in an Authentication-Results
header: `mx.example.com 1; dkim=pass header.d=example.com; spf=pass
(comment) smtp.mailfrom=a@example.com; dmarc=pass header.from=example.com`.
The parser follows the RFC's grammar -- an authserv-id (token or quoted
string), an optional version, then `;`-separated `method=result` with an
optional `reason=` and `ptype.property=value` pairs -- and tolerates what
real servers write: comments anywhere (kept, since DMARC policies hide in
them: Gmail's `(p=REJECT sp=REJECT dis=NONE)`), no space before a comment
(Yahoo's `dmarc=pass(p=reject dis=none)`), bare `key=value` extras
(Microsoft's `action=none`, `compauth=pass reason=100`) and no authserv-id at
all (Exchange Online stamps none; such a header is read as authserv-id
`unnamed`, see `UNNAMED`).

Anyone can write this header, so only a server the admin names is believed,
and only its newest (topmost) header: the receiving server adds its own on
top, and copies further down may be forged by the sender (RFC 8601 section
5). That rule only holds for mail that really passed through that server;
which sources those are is the caller's decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mail.sender_auth.domains import address_domain, org_domain
from mail.sender_auth.verdict import DKIM_RANK, Verdict

# The authserv-id given to a header that names none (Exchange Online's form:
# `Authentication-Results: spf=pass (sender IP is ...) smtp.mailfrom=...`).
# List it among the trusted ids only where the mailbox server is Exchange Online.
UNNAMED = "unnamed"
# Real headers are a few hundred bytes; this bounds the work on hostile ones.
MAX_VALUE_CHARS = 16_384

_DKIM = ("pass", "fail", "neutral", "policy", "temperror", "permerror", "none")
_SPF = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
_DMARC = ("pass", "fail", "none", "temperror", "permerror")
# Older spellings (RFC 5451 and pre-standard servers).
_ALIASES = {"hardfail": "fail", "tempfail": "temperror", "permfail": "permerror"}
_POLICY = re.compile(r"\b(sp|p)\s*=\s*([a-z]+)", re.I)


@dataclass(frozen=True, slots=True)
class ResultInfo:
    """One `method=result` of a header, with its reason, properties and comments."""

    method: str
    result: str
    reason: str = ""
    properties: tuple[tuple[str, str], ...] = ()  # ("header.d", "example.com"), lower-case keys
    comments: tuple[str, ...] = ()

    def prop(self, name: str) -> str:
        """The first value of property `name` ("header.d", "smtp.mailfrom", "action"), or ""."""
        return next((v for k, v in self.properties if k == name), "")


@dataclass(frozen=True, slots=True)
class AuthenticationResults:
    """One Authentication-Results header: who stamped it, and its results in order."""

    authserv_id: str
    results: tuple[ResultInfo, ...]

    def of(self, method: str) -> list[ResultInfo]:
        """The results of one method ("dkim", "spf", "dmarc", "arc")."""
        return [r for r in self.results if r.method == method]


def _enclosed(text: str, start: int, closer: str) -> tuple[str, int]:
    """The content of the comment or quoted string opening at `start`, and where it ends.

    Backslash quotes the next character in both; comments nest (RFC 5322 3.2.2).
    An unclosed one runs to the end of the value.
    """
    opener, depth, i, out = text[start], 1, start + 1, []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == closer and depth == 1:
            return "".join(out), i + 1
        if opener != closer:
            depth += (c == opener) - (c == closer)
        out.append(c)
        i += 1
    return "".join(out), i


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    """(kind, text): "atom", "quoted", "=", ";" and "comment" tokens of a header value.

    An atom right after "=" is a value and may itself hold "=" (base64 in
    header.b=); elsewhere "=" separates a key from its value.
    """
    i, after_eq = 0, False
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "(":
            comment, i = _enclosed(text, i, ")")
            yield "comment", comment.strip()
            continue
        if c == '"':
            value, i = _enclosed(text, i, '"')
            yield "quoted", value
        elif c in ";=":
            yield c, c
            i += 1
        else:
            stops = ' \t\r\n;()"' if after_eq else ' \t\r\n;()"='
            j = i
            while j < len(text) and text[j] not in stops:
                j += 1
            yield "atom", text[i:j]
            i = j
        after_eq = c == "="


def _resinfo(tokens: list[tuple[str, str]]) -> ResultInfo | None:
    """One `;`-separated part: method=result, then reason= and properties, comments anywhere."""
    comments = tuple(t for kind, t in tokens if kind == "comment")
    words = [(kind, t) for kind, t in tokens if kind != "comment"]
    pairs: list[tuple[str, str]] = []
    i = 0
    while i + 3 <= len(words):
        (k_kind, key), (eq, _), (v_kind, value) = words[i : i + 3]
        if k_kind == "atom" and eq == "=" and v_kind in ("atom", "quoted"):
            pairs.append((key, value))
            i += 3
        else:
            i += 1  # something the grammar does not allow: skip it, keep the rest
    if not pairs:
        return None
    method = pairs[0][0].partition("/")[0].strip().lower()
    result = pairs[0][1].strip().lower()
    reason = ""
    properties: list[tuple[str, str]] = []
    for key, value in pairs[1:]:
        if key.lower() == "reason" and not reason:
            reason = value
        else:
            properties.append((key.lower(), value))
    return ResultInfo(method, result, reason, tuple(properties), comments)


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """One header's value parsed; None when it has neither an authserv-id nor a result."""
    tokens = list(_tokens(value[:MAX_VALUE_CHARS]))
    words = [(i, kind) for i, (kind, _) in enumerate(tokens) if kind != "comment"]
    if not words:
        return None
    first, kind = words[0]
    named = kind in ("atom", "quoted") and (len(words) < 2 or tokens[words[1][0]][0] != "=")
    authserv_id = tokens[first][1].strip().lower() if named else UNNAMED
    if not authserv_id:
        return None
    if named:
        # Skip the version (and anything else before the first ";").
        rest = tokens[first + 1 :]
        cut = next((n for n, (k, _) in enumerate(rest) if k == ";"), len(rest))
        rest = rest[cut:]
    else:
        rest = tokens
    parts: list[list[tuple[str, str]]] = [[]]
    for token in rest:
        if token[0] == ";":
            parts.append([])
        else:
            parts[-1].append(token)
    results = tuple(r for part in parts if (r := _resinfo(part)) is not None)
    if not named and not results:
        return None
    return AuthenticationResults(authserv_id, results)


def _normal(value: str, allowed: tuple[str, ...], fallback: str) -> str:
    value = _ALIASES.get(value, value)
    return value if value in allowed else fallback


def _dmarc_policy(result: ResultInfo, from_domain: str) -> str:
    """The policy a trusted server reports: a p=/sp= comment, policy.* or Microsoft's action=."""
    found: dict[str, str] = {}
    for comment in result.comments:
        for tag, value in _POLICY.findall(comment):
            found.setdefault(tag.lower(), value.lower())
    # sp= applies to a From below its organisational domain (RFC 7489 6.3);
    # the comment does not say where the record was found, so this is a best reading.
    if "sp" in found and from_domain and org_domain(from_domain) != from_domain:
        policy = found["sp"]
    else:
        policy = found.get("p", "")
    if not policy:
        policy = result.prop("policy.dmarc") or result.prop("policy.published-domain-policy")
    # Exchange Online: action=oreject (reject overridden to quarantine),
    # pct.quarantine, sp.reject, none. Only a failure reveals the policy.
    if not policy and result.result == "fail" and (action := result.prop("action").lower()):
        policy = next((p for p in ("reject", "quarantine", "none") if p in action), "")
    policy = policy.lower()
    return policy if policy in ("reject", "quarantine", "none") else ""


def tag_list(value: str) -> dict[str, str]:
    """A DKIM-style `tag=value; ...` list (ARC-Seal, DKIM-Signature), first of each tag."""
    tags: dict[str, str] = {}
    for item in value.split(";"):
        tag, eq, val = item.partition("=")
        if eq:
            tags.setdefault(tag.strip().lower(), re.sub(r"\s+", "", val))
    return tags


def newest_arc_sealer(headers: Sequence[tuple[str, str]]) -> str:
    """d= of the ARC-Seal with the highest instance i=, or ""."""
    best, sealer = 0, ""
    for name, value in headers:
        if name.lower() != "arc-seal":
            continue
        tags = tag_list(value[:MAX_VALUE_CHARS])
        instance = tags.get("i", "")
        if instance.isdigit() and int(instance) > best:
            best, sealer = int(instance), tags.get("d", "").lower()
    return sealer


def verdict_of(
    header: AuthenticationResults, from_domain: str, headers: Sequence[tuple[str, str]] = ()
) -> Verdict:
    """The verdict one (trusted) header states about a message whose From domain is given."""
    from_domain = from_domain.lower().rstrip(".")
    dkim_results = header.of("dkim")
    dkim = sorted((_normal(r.result, _DKIM, "neutral") for r in dkim_results), key=DKIM_RANK.index)
    passed = tuple(
        dict.fromkeys(
            (r.prop("header.d") or address_domain(r.prop("header.i"))).lower()
            for r in dkim_results
            if _normal(r.result, _DKIM, "neutral") == "pass"
        )
    )
    spf, spf_domain = "none", ""
    if spf_results := header.of("spf"):
        first = spf_results[0]
        spf = _normal(first.result, _SPF, "neutral")
        spf_domain = address_domain(first.prop("smtp.mailfrom") or first.prop("smtp.helo"))
    dmarc, policy = "none", ""
    if dmarc_results := header.of("dmarc"):
        first = dmarc_results[0]
        checked = first.prop("header.from").lower().rstrip(".")
        # A result for another From than ours (a second From field?) says nothing about it.
        if not checked or checked == from_domain:
            dmarc = _normal(first.result, _DMARC, "permerror")
            policy = _dmarc_policy(first, from_domain)
    arc, sealer = "none", ""
    if arc_results := header.of("arc"):
        arc = {"pass": "pass", "none": "none"}.get(arc_results[0].result, "fail")
        sealer = newest_arc_sealer(headers) if arc == "pass" else ""
    return Verdict(
        from_domain=from_domain,
        dkim=dkim[0] if dkim else "none",
        dkim_domains=tuple(d for d in passed if d),
        spf=spf,
        spf_domain=spf_domain,
        dmarc=dmarc,
        dmarc_policy=policy,
        arc=arc,
        arc_sealer=sealer,
        by=header.authserv_id,
    )


def trusted_verdict(
    headers: Sequence[tuple[str, str]], trusted_authserv_ids: frozenset[str], from_domain: str
) -> Verdict | None:
    """The verdict of the topmost Authentication-Results header stamped by a trusted
    authserv-id, or None."""
    trusted = {t.strip().lower() for t in trusted_authserv_ids if t.strip()}
    if not trusted:
        return None
    for name, value in headers:
        if name.lower() != "authentication-results":
            continue
        header = parse_authentication_results(value)
        if header is not None and header.authserv_id in trusted:
            return verdict_of(header, from_domain, headers)
    return None
