"""The outcome of authenticating one message's sender: DKIM, SPF, DMARC and ARC in one value.

A `Verdict` comes either from a receiving server the admin trusts (its
Authentication-Results, `by` = its authserv-id) or from the bridge's own
checks (`by` = "bridge"). It is plain data: frozen, printable as JSON and
read back, so the pipeline can store it beside the message and show it to a
moderator. `aligned` is the question the pipeline asks ("is the From
real?"), answered with DMARC's rule: a DKIM or SPF pass for a domain that
aligns with the From domain (RFC 7489 section 3.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from mail.sender_auth.domains import aligned, org_domain

BRIDGE = "bridge"
# Best first, for "the best result over several DKIM signatures": a pass
# wins, then a failure that may clear up on retry, then the definite ones.
DKIM_RANK = ("pass", "temperror", "fail", "permerror", "policy", "neutral", "none")


@dataclass(frozen=True, slots=True)
class Verdict:
    """DKIM, SPF, DMARC and ARC results for one message, and who reached them."""

    from_domain: str  # lower-case domain of the From address
    dkim: str = "none"  # pass|fail|neutral|policy|temperror|permerror|none (best over signatures)
    dkim_domains: tuple[str, ...] = ()  # d= of the signatures that passed
    spf: str = "none"  # pass|fail|softfail|neutral|none|temperror|permerror
    spf_domain: str = ""  # the MAIL FROM (or HELO) domain SPF was checked for
    dmarc: str = "none"  # pass|fail|none|temperror|permerror
    dmarc_policy: str = ""  # the policy that applies (p=, or sp= for a subdomain)
    arc: str = "none"  # chain validation: pass|fail|none
    arc_sealer: str = ""  # d= of the newest ARC-Seal when the chain passed
    by: str = ""  # the trusted authserv-id the verdict came from, "bridge" when verified here
    # The DMARC record's adkim=s / aspf=s (strict alignment); relaxed otherwise.
    dkim_strict: bool = False
    spf_strict: bool = False

    @property
    def aligned(self) -> bool:
        """DMARC pass semantics: DKIM or SPF passed for a domain aligned with the From.

        A dmarc=pass or dmarc=fail result stands as given (a trusted server
        evaluated the record); without one, alignment is computed from the
        passing identifiers, relaxed unless the record said strict.
        """
        if self.dmarc == "pass":
            return True
        if self.dmarc == "fail" or not self.from_domain:
            return False
        if self.dkim == "pass" and any(
            aligned(d, self.from_domain, strict=self.dkim_strict) for d in self.dkim_domains
        ):
            return True
        return self.spf == "pass" and aligned(
            self.spf_domain, self.from_domain, strict=self.spf_strict
        )

    def arc_trusted(self, sealers: frozenset[str]) -> bool:
        """The ARC chain passed and its newest sealer (or its org domain) is in `sealers`."""
        if self.arc != "pass" or not self.arc_sealer:
            return False
        wanted = {s.strip().lower().rstrip(".") for s in sealers}
        sealer = self.arc_sealer.lower()
        return sealer in wanted or org_domain(sealer) in wanted

    def summary(self) -> str:
        """One line for people: "dkim=pass spf=pass dmarc=pass arc=pass (lists.example)"."""
        text = f"dkim={self.dkim} spf={self.spf} dmarc={self.dmarc}"
        if self.arc != "none":
            text += f" arc={self.arc}" + (f" ({self.arc_sealer})" if self.arc_sealer else "")
        if self.by:
            text += f" (by {self.by})"
        return text

    def to_json(self) -> dict[str, object]:
        """The verdict as a JSON-ready dict (`dkim_domains` as a list)."""
        data = asdict(self)
        data["dkim_domains"] = list(self.dkim_domains)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Verdict:
        """A verdict from `to_json` output; unknown keys ignored, wrong types a ValueError."""
        values: dict[str, object] = {}
        for item in fields(cls):
            if item.name not in data:
                continue
            value = data[item.name]
            if item.name == "dkim_domains":
                if not isinstance(value, list | tuple) or not all(
                    isinstance(d, str) for d in value
                ):
                    raise ValueError("dkim_domains must be a list of strings")
                value = tuple(value)
            elif item.name.endswith("_strict"):
                if not isinstance(value, bool):
                    raise ValueError(f"{item.name} must be true or false")
            elif not isinstance(value, str):
                raise ValueError(f"{item.name} must be a string")
            values[item.name] = value
        if "from_domain" not in values:
            raise ValueError("from_domain is missing")
        return cls(**values)  # type: ignore[arg-type]
