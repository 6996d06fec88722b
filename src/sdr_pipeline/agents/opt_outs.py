"""Opt-outs in a prospect's reply: an unsubscribe request or a hard bounce, found without a model.

The router may end such a lead with `none`, but honouring an opt-out must not depend on a
model, so this is deterministic and errs towards honouring: "please don't e-mail me" is taken
at its word. Only the reply's own words count (not the quoted e-mail it answers, nor our
subject quoted back in `Re: …`); a soft bounce (delayed, 4.x.x) is not an opt-out. The words
are English, with the bounce formats mail servers use; a reply in another language that the
router ends is still stopped, but its address is not suppressed: a limit to lift with data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["OptOut", "opt_out_in_reply"]


@dataclass(frozen=True)
class OptOut:
    """An opt-out found in a prospect's reply: an unsubscribe request or a hard bounce."""

    kind: Literal["unsubscribe", "bounce"]
    evidence: str
    """The words or the bounce diagnostic that gave it away."""
    address: str | None = None
    """The bounced recipient named in the bounce report, when it names one."""

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.evidence}"


_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-delivery-subsystem", "maildaemon", "mail-daemon"})
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification \(failure\)|mail delivery (?:failed|failure)|returned mail|"
    r"delivery (?:has )?failed|failure notice|could not be delivered|non-?delivery", re.IGNORECASE)
_SOFT_BOUNCE = re.compile(r"\bstatus:\s*4\.\d{1,3}\.\d{1,3}|\bdelay(?:ed)?\b|will (?:retry|keep trying)", re.IGNORECASE)
_HARD_BOUNCE = re.compile(
    r"\bstatus:\s*5\.\d{1,3}\.\d{1,3}|\b5\d\d[ -]5\.\d{1,3}\.\d{1,3}|user unknown|no such user|"
    r"mailbox (?:unavailable|not found|does not exist)|address rejected|does not exist|recipient rejected",
    re.IGNORECASE)
_FINAL_RECIPIENT = re.compile(r"^\s*(?:final|original)-recipient:\s*rfc822;\s*<?([^\s<>;]+@[^\s<>;]+?)>?\s*$",
                              re.IGNORECASE | re.MULTILINE)
_UNSUBSCRIBE = re.compile(
    r"\b(?:unsubscrib\w*|opt(?:ing|ed)?[\s-]?out|"
    r"remove\s+(?:me|us|my\s+(?:e-?mail|address))|take\s+(?:me|us)\s+off|"
    r"stop\s+(?:e-?mailing|contacting|sending|writing|messaging)|"
    r"(?:do\s+not|don'?t|never)\s+(?:e-?mail|contact|write\s+to|message)\s+(?:me|us)|"
    r"no\s+(?:more|further)\s+(?:e-?mails|messages|contact))\b",
    re.IGNORECASE)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|fwd?|aw|sv|wg)\s*:", re.IGNORECASE)
_QUOTE_START = re.compile(r"^\s*(?:on\b.{0,200}\bwrote:|-{2,}\s*original message\s*-{2,}|_{5,}|from:\s)",
                          re.IGNORECASE)


def _own_words(body: str) -> str:
    """The reply's own text: what comes before the quoted e-mail it answers."""
    lines: list[str] = []
    for line in body.splitlines():
        if _QUOTE_START.match(line):
            break
        if not line.lstrip().startswith(">"):
            lines.append(line)
    return "\n".join(lines)


def opt_out_in_reply(*, sender: str, subject: str, body: str) -> OptOut | None:
    """An unsubscribe request or a hard bounce in a reply, or None.

    Deterministic on purpose: the router may end such a lead with `none`, but honouring an opt-out must not
    depend on a model. Errs towards honouring: "please don't e-mail me" is taken at its word. A soft bounce
    (delayed, 4.x.x) is not an opt-out; our own subject quoted back in `Re: …` is not read."""
    local = sender.strip().lower().split("@", 1)[0]
    if local in _BOUNCE_SENDERS or _BOUNCE_SUBJECT.search(subject):
        report = f"{subject}\n{body}"
        if _SOFT_BOUNCE.search(report) and not _HARD_BOUNCE.search(report):
            return None
        recipient = _FINAL_RECIPIENT.search(body)
        diagnostic = _HARD_BOUNCE.search(report)
        evidence = diagnostic.group(0) if diagnostic else (subject.strip() or "a delivery failure report")
        return OptOut("bounce", f"{evidence!r} from {sender}", recipient.group(1) if recipient else None)
    words = _own_words(body)
    if not _REPLY_PREFIX.match(subject):
        words = f"{subject}\n{words}"
    found = _UNSUBSCRIBE.search(words)
    if found:
        return OptOut("unsubscribe", f"the reply says {found.group(0)!r}")
    return None
