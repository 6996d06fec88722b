"""Lead journeys: the decision log read back from the topics, one path per lead.

`read_log` takes `routing_decisions` and `workflow_events` from Kafka (through the bus);
when no broker answers, `sample_log` builds a small log from a labelled dataset instead,
by chaining examples the way a lead moves through the pipeline (raw lead → research →
score → outreach or nurture → send → stop, sometimes a reply that starts a new round),
each routed to its label. `journey_table` turns either into one row per lead.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from pydantic import ValidationError

from sdr_pipeline.contracts.decision import NONE_AGENT, RoutingDecision
from sdr_pipeline.contracts.topics import ROUTING_DECISIONS, WORKFLOW_EVENTS
from sdr_pipeline.contracts.workflow import WorkflowEvent
from sdr_pipeline.evals.datasets import Example
from sdr_pipeline.exceptions import UserError

__all__ = ["DecisionLog", "journey_table", "path_counts", "read_log", "sample_log", "steps_frame"]

logger = logging.getLogger(__name__)

_SAMPLE_START = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)
_MAX_STEPS = 12


@dataclass(frozen=True)
class DecisionLog:
    """Decisions and lifecycle events, and where they came from."""

    decisions: tuple[RoutingDecision, ...]
    events: tuple[WorkflowEvent, ...]
    source: str
    """`kafka <bootstrap>` or `sample built from <dataset>`."""
    skipped: int = 0
    """Records that did not parse (e.g. written by an older version)."""


def read_log(bootstrap_servers: str, *, idle_timeout_s: float = 3.0, max_records: int = 20_000) -> DecisionLog | None:
    """Both topics from the beginning; None when no broker answers at `bootstrap_servers`."""
    from sdr_pipeline.infra.bus import KafkaBus, broker_ready

    if not broker_ready(bootstrap_servers):
        logger.info("no Kafka broker at %s", bootstrap_servers)
        return None
    bus = KafkaBus(bootstrap_servers, client_id="sdr-journeys")
    try:
        records = bus.read([ROUTING_DECISIONS, WORKFLOW_EVENTS], idle_timeout_s=idle_timeout_s, max_records=max_records)
    finally:
        bus.close()
    decisions, events, skipped = [], [], 0
    for record in records:
        try:
            if record.topic == ROUTING_DECISIONS:
                decisions.append(RoutingDecision.model_validate_json(record.value))
            else:
                events.append(WorkflowEvent.model_validate_json(record.value))
        except ValidationError:
            skipped += 1
    if skipped:
        logger.warning("skipped %d records that do not parse as decisions or workflow events", skipped)
    return DecisionLog(tuple(decisions), tuple(events), f"kafka {bootstrap_servers}", skipped)


def _pools(examples: Sequence[Example]) -> dict[str, list[Example]]:
    """Examples by the stage they represent: (producer, label) buckets the walk draws from."""
    pools: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        producer = example.message.produced_by
        key = "start" if producer in ("web_form", "crm_import") else producer
        pools[f"{key}->{example.expected_agent}"].append(example)
    return pools


def sample_log(examples: Sequence[Example], *, leads: int = 8, seed: int = 0,
               source: str = "the dataset") -> DecisionLog:
    """A plausible decision log from labelled examples, each decision being the example's label."""
    pools = _pools(examples)
    starts = pools.get("start->lead_ingestion", [])
    if not starts:
        raise UserError("the dataset has no raw lead labelled lead_ingestion to start a journey from")
    rng = random.Random(seed)
    next_producer = {"lead_ingestion": "lead_ingestion", "lead_scoring": "lead_scoring",
                     "active_outreach": "active_outreach", "nurture_campaign": "nurture_campaign",
                     "send_email": "send_email"}
    decisions: list[RoutingDecision] = []
    events: list[WorkflowEvent] = []
    for number in range(leads):
        lead_id = f"sample-lead-{number + 1:02d}"
        clock = _SAMPLE_START + timedelta(minutes=17 * number)
        example = rng.choice(starts)
        replied = False
        for hop in range(_MAX_STEPS):
            agent = example.expected_agent
            clock += timedelta(seconds=rng.randint(20, 400))
            decisions.append(RoutingDecision(
                message_id=f"{lead_id}-m{hop}", lead_id=lead_id, hop=hop, agent=agent, confidence=1.0,
                reason=f"sample: label of dataset example {example.id}", policy="contract", prompt_name="router",
                prompt_version="sample", prompt_hash="", candidates=[], llm_called=False, latency_s=0.0,
                decided_at=clock,
            ))
            if agent == NONE_AGENT:
                # after the e-mails went out, half of the leads answer: a new round starts from the reply
                if not replied and example.message.produced_by == "send_email" and rng.random() < 0.5:
                    replies = [e for key, pool in pools.items() if key.startswith("inbound_email->") for e in pool]
                    if replies:
                        replied = True
                        example = rng.choice(replies)
                        continue
                events.append(WorkflowEvent(kind="ended", lead_id=lead_id, message_id=f"{lead_id}-m{hop}",
                                            reason=example.note or "routed to none", at=clock))
                break
            events.append(WorkflowEvent(kind="dispatched", lead_id=lead_id, message_id=f"{lead_id}-m{hop}",
                                        agent=agent, reason=f"dispatched to {agent}", at=clock))
            followers = [e for key, pool in pools.items() if key.startswith(f"{next_producer[agent]}->") for e in pool]
            if not followers:
                break
            example = rng.choice(followers)
    return DecisionLog(tuple(decisions), tuple(events), f"sample built from {source}")


def steps_frame(log: DecisionLog) -> pd.DataFrame:
    """One row per decision, ordered per lead by time and hop."""
    rows = [{"lead_id": d.lead_id, "hop": d.hop, "agent": d.agent, "decided_at": d.decided_at, "policy": d.policy,
             "prompt_version": d.prompt_version, "llm_called": d.llm_called, "latency_s": d.latency_s,
             "tokens": d.total_tokens, "cost_usd": d.cost_usd, "confidence": d.confidence, "reason": d.reason}
            for d in log.decisions]
    columns = ["lead_id", "hop", "agent", "decided_at", "policy", "prompt_version", "llm_called", "latency_s", "tokens",
               "cost_usd", "confidence", "reason"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["lead_id", "decided_at", "hop"]).reset_index(drop=True)


def journey_table(log: DecisionLog) -> pd.DataFrame:
    """One row per lead: its path of agents, how it ended, how long it took and what routing cost."""
    steps = steps_frame(log)
    last_event: dict[str, WorkflowEvent] = {}
    for event in sorted(log.events, key=lambda item: item.at):
        if event.kind in ("ended", "limit"):
            last_event[event.lead_id] = event
    rows = []
    for lead_id, group in steps.groupby("lead_id", sort=False):
        ending = last_event.get(str(lead_id))
        rows.append({
            "lead_id": lead_id,
            "steps": len(group),
            "path": " → ".join(group["agent"]),
            "outcome": ending.kind if ending else "in progress",
            "end_reason": ending.reason if ending else "",
            "started": group["decided_at"].min(),
            "duration_s": (group["decided_at"].max() - group["decided_at"].min()).total_seconds(),
            "llm_calls": int(group["llm_called"].sum()),
            "tokens": int(group["tokens"].sum()),
            "cost_usd": float(group["cost_usd"].sum()),
        })
    columns = ["lead_id", "steps", "path", "outcome", "end_reason", "started", "duration_s", "llm_calls", "tokens",
               "cost_usd"]
    return pd.DataFrame(rows, columns=columns).sort_values("started").reset_index(drop=True)


def path_counts(journeys: pd.DataFrame) -> pd.DataFrame:
    """How many leads took each path, most common first."""
    counts = journeys.groupby("path").size().rename("leads").sort_values(ascending=False)
    return counts.reset_index()
