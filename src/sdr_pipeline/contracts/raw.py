"""What a consumer of ours agrees to parse and to write back: a poison pill is refused before it can hurt.

Every reader of a topic (the intake bridge, the routing job) checks a raw value the same way
before parsing it: a null (tombstone), a value over the size limit or JSON nested deeper than
the depth limit is a `ContractError` whose reason says which setting governs it, and the depth
is found without parsing (deep JSON exhausts Python's stack in `json.loads`). A dead letter that
carries the raw value is cut to fit under the producer's message size, keeping the value's head,
its size and its sha256, so it can always be written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdr_pipeline.contracts.decision import DeadLetter
from sdr_pipeline.exceptions import ContractError

if TYPE_CHECKING:
    from sdr_pipeline.settings import Settings

__all__ = ["RecordBounds", "check_raw", "deeper_than", "fit_dead_letter"]

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_REASON_KEPT = 2_000
"""Characters of a reason kept in a dead letter that has to be cut."""
_RAW_OUTPUT_KEPT = 8_000
"""Characters of a model's raw answer kept in a dead letter that has to be cut."""


@dataclass(frozen=True)
class RecordBounds:
    """The limits, from settings (SDR_RECORD_MAX_BYTES, SDR_RECORD_MAX_JSON_DEPTH, SDR_DEAD_LETTER_MAX_BYTES)."""

    record_bytes: int = 262_144
    """Largest value parsed."""
    json_depth: int = 32
    """Deepest JSON nesting parsed."""
    dead_letter_bytes: int = 524_288
    """Largest dead letter written, below the producer's 1 MiB."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RecordBounds:
        return cls(settings.record_max_bytes, settings.record_max_json_depth, settings.dead_letter_max_bytes)


def deeper_than(text: str, limit: int) -> bool:
    """Whether JSON `text` nests arrays or objects deeper than `limit`, found without parsing it."""
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_raw(raw: str | bytes | None, bounds: RecordBounds, *, where: str, contract: str, null_hint: str) -> str:
    """`raw` as text if it may be parsed; a null, an oversized or a too deeply nested value raises ContractError.

    `where` names the record (`agent_messages[0]@42`), `null_hint` says what a null means on that topic.
    """
    if raw is None:
        raise ContractError(contract, f"tombstone (null value) at {where}; {null_hint}")
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", errors="replace"))
    if size > bounds.record_bytes:
        raise ContractError(contract, f"value of {size:,} bytes at {where} is over the limit of "
                                      f"{bounds.record_bytes:,} bytes (SDR_RECORD_MAX_BYTES); producers must keep "
                                      "messages small and refer to large content by id")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as error:
        raise ContractError(contract, f"value at {where} is not UTF-8 text ({error.reason} at byte "
                                      f"{error.start})") from None
    if deeper_than(text, bounds.json_depth):
        raise ContractError(contract, f"JSON at {where} is nested deeper than {bounds.json_depth} levels "
                                      "(SDR_RECORD_MAX_JSON_DEPTH); it was not parsed")
    return text


def _cut(text: str, keep: int, note: str) -> str:
    return text if len(text) <= keep else text[:keep] + note


def fit_dead_letter(letter: DeadLetter, limit: int) -> DeadLetter:
    """`letter` within `limit` bytes of JSON: the raw value keeps its head, its size and its sha256."""
    size = len(letter.model_dump_json().encode())
    if size <= limit:
        return letter
    letter = letter.model_copy(update={
        "reason": _cut(letter.reason, _REASON_KEPT, " … [cut]"),
        "raw_output": _cut(letter.raw_output, _RAW_OUTPUT_KEPT, " … [cut]") if letter.raw_output else None})
    raw = letter.raw_value.encode("utf-8", errors="replace")
    note = f" … [cut: {len(raw):,} bytes in all, sha256 {hashlib.sha256(raw).hexdigest()}]"
    keep = len(letter.raw_value)
    for _ in range(12):  # JSON escaping makes the encoded size unknown in advance: shrink until it fits
        candidate = letter.model_copy(update={"raw_value": _cut(letter.raw_value, keep, note)})
        size = len(candidate.model_dump_json().encode())
        if size <= limit:
            return candidate
        keep = max(0, int(keep * limit / size) - 1_024)
    return letter.model_copy(update={"raw_value": note.lstrip()})
