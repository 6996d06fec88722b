"""Poison pills: records no code path expects, on both topics a producer can write to.

A tombstone, JSON nested 5,000 deep and a 900 KB record on agent_messages (read by the routing
job) and on incoming_leads (read by intake's bridge). Each must become a dead letter with a
reason; the job and the bridge stay up, so a valid lead sent after them ends.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sdr_pipeline.contracts.topics import AGENT_MESSAGES, INCOMING_LEADS
from sdr_pipeline.drills._traffic import fresh_lead, submit
from sdr_pipeline.drills.checker import Probe, Report, judge, settle
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.infra.smtp import read_mailbox

__all__ = ["DEPTH", "HUGE_BYTES", "poison", "poison_records"]

DEPTH = 5_000
HUGE_BYTES = 900 * 1024


def _after(started: str, letter: dict) -> bool:
    return str(letter.get("failed_at", "")) >= started


def poison_records(topic: str, started: str) -> list[tuple[str, bytes | None, Probe]]:
    """(key, value, probe) for each pill on `topic`: the value carries a marker its dead letter must keep."""
    pills = []
    key = f"drill-tombstone-{uuid.uuid4().hex[:10]}"
    where = f"tombstone (null value) at {topic}"
    pills.append((key, None, Probe(f"tombstone {key}", topic,
                                   lambda d, w=where, k=key: w in str(d.get("reason", "")) and _after(started, d)
                                   and d.get("lead_id") in (None, k))))
    marker = f"drill-deep-{uuid.uuid4().hex[:10]}"
    deep = ('{"lead_id": "%s", "produced_by": "web_form", "context": ' % marker + "[" * DEPTH + "]" * DEPTH + "}")
    pills.append((marker, deep.encode(), Probe(f"JSON nested {DEPTH:,} deep", topic,
                                               lambda d, m=marker: m in str(d.get("raw_value", "")))))
    marker = f"drill-huge-{uuid.uuid4().hex[:10]}"
    padding = "x" * (HUGE_BYTES - 200)
    huge = json.dumps({"lead_id": marker, "produced_by": "web_form", "context": padding + '"unclosed'})[:-2]
    pills.append((marker, huge.encode(), Probe(f"{HUGE_BYTES // 1024} KB malformed record", topic,
                                               lambda d, m=marker: m in str(d.get("raw_value", "")))))
    return pills


def poison(stack: DrillStack, *, timeout_s: float) -> Report:
    """Every pill on agent_messages and incoming_leads, then one valid lead through intake: each pill a dead
    letter with a reason, the lead ended, the job and the bridge still running."""
    started = datetime.now(UTC).isoformat()
    probes = []
    for topic in (AGENT_MESSAGES, INCOMING_LEADS):
        for key, value, probe in poison_records(topic, started):
            stack.bus.publish(topic, value, key=key)
            probes.append(probe)
    leads = [submit(stack, fresh_lead("after-poison"))]  # through intake, the bridge and the job, after every pill
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, probes, timeout_s=timeout_s)
    report = judge("poison", stack.model, observation, leads, probes=probes, seconds=seconds)
    report.notes.append(f"{len(probes)} pills (tombstone, {DEPTH:,}-deep JSON, {HUGE_BYTES // 1024} KB record) on "
                        f"{AGENT_MESSAGES} and {INCOMING_LEADS}; then one valid lead through intake, the bridge and the job")
    if stack.owned:
        for part in ("router", "intake"):
            if not stack.alive(part):
                report.failures.append(f"the {part} process died during the drill")
    return report
