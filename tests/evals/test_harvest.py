"""Production decisions become labelled data: what is picked, and the dataset version it becomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sdr_pipeline.contracts import DEAD_LETTERS, ROUTING_DECISIONS, Envelope
from sdr_pipeline.contracts.decision import DeadLetter, RoutingDecision
from sdr_pipeline.contracts.topics import AGENT_MESSAGES
from sdr_pipeline.evals.datasets import diff_datasets, load_dataset
from sdr_pipeline.evals.harvest import harvest, load_queue, publish, save_queue
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra.bus import InMemoryBus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _decided(bus: InMemoryBus, n: int, *, agent: str = "lead_ingestion", confidence: float = 0.95,
             decided_by: str = "classifier", off_contract: bool = False, at: datetime = NOW) -> Envelope:
    envelope = Envelope(lead_id=f"lead-{n}", produced_by="web_form", lead={"name": f"Lead {n}", "company_name": "Co"})
    bus.publish(AGENT_MESSAGES, envelope.to_bytes(), key=envelope.lead_id)
    decision = RoutingDecision(
        message_id=envelope.message_id, lead_id=envelope.lead_id, hop=0, agent=agent, confidence=confidence,
        reason=f"pick {agent}", policy="cascade", prompt_name="router", prompt_version="v6", prompt_hash="h",
        model="qwen", candidates=[agent], llm_called=decided_by == "model", latency_s=0.1, decided_by=decided_by,
        off_contract=off_contract, decided_at=at)
    bus.publish(ROUTING_DECISIONS, decision.to_bytes(), key=envelope.lead_id)
    return envelope


@pytest.fixture
def traffic() -> tuple[InMemoryBus, dict[str, Envelope]]:
    bus = InMemoryBus()
    named = {
        "sure": _decided(bus, 1),
        "unsure": _decided(bus, 2, confidence=0.41, decided_by="model"),
        "drifted": _decided(bus, 3, off_contract=True),
        "refused": _decided(bus, 4, agent="lead_scoring"),
        "reviewed": _decided(bus, 5, agent="nurture_campaign", confidence=1.0, decided_by="review"),
        "old": _decided(bus, 6, confidence=0.1, at=NOW - timedelta(days=30)),
    }
    for n in range(7, 37):
        named[f"plain{n}"] = _decided(bus, n)
    refused = named["refused"]
    bus.publish(DEAD_LETTERS, DeadLetter(raw_value=refused.to_json(), stage="dispatch", error_type="AgentCallError",
                                         reason=f"agent 'lead_scoring' failed on message {refused.message_id} (HTTP "
                                                "422): researched_lead v1 at 'context': field required",
                                         message_id=refused.message_id, lead_id=refused.lead_id).to_bytes())
    return bus, named


def test_the_unsure_the_drifted_the_overturned_and_a_random_sample_are_queued(traffic):
    bus, named = traffic
    rows = harvest(bus, since=NOW - timedelta(days=7), sample=5, seed=1)
    why = {row.message.message_id: row.why for row in rows}
    assert why[named["unsure"].message_id] == ["low_confidence"]
    assert why[named["drifted"].message_id] == ["off_contract"]
    assert why[named["refused"].message_id] == ["overturned"]
    assert why[named["reviewed"].message_id] == ["reviewed"]
    assert named["old"].message_id not in why, "outside the window"
    assert sum(reasons == ["sample"] for reasons in why.values()) == 5
    reviewed = next(row for row in rows if row.why == ["reviewed"])
    assert reviewed.label == "nurture_campaign", "a reviewer's verdict already is a label"
    refused = next(row for row in rows if row.why == ["overturned"])
    assert "HTTP 422" in refused.detail and refused.provenance["topic"] == AGENT_MESSAGES
    assert harvest(bus, since=NOW - timedelta(days=7), sample=5, seed=1) == rows, "the same seed draws the same"


def test_labelled_rows_become_a_new_version_with_provenance_and_a_card(traffic, tmp_path):
    bus, _ = traffic
    rows = harvest(bus, since=NOW - timedelta(days=7), sample=4, seed=2)
    for row in rows:
        if row.label is None and row.why != ["overturned"]:  # one row stays unlabelled: it is left out
            row.label, row.labelled_by = row.decision.agent, "sam"
    queue = tmp_path / "queue.jsonl"
    save_queue(rows, queue)
    out = tmp_path / "field_v2.jsonl"
    sha, counts = publish(load_queue(queue), out, source="test window")
    examples = load_dataset(out)
    assert len(examples) == len(rows) - 1 == sum(counts.values())
    assert {e.split for e in examples if "why:sample" in e.tags} == {"test"}
    assert {e.split for e in examples if "why:sample" not in e.tags} == {"dev"}
    assert all(e.provenance["offset"] is not None and e.provenance["prompt_version"] == "v6" for e in examples)
    card = out.with_suffix(".card.md").read_text()
    assert sha in card and "test window" in card
    with pytest.raises(UserError, match="never written again"):
        publish(rows, out, source="again")
    change = diff_datasets(examples[:-1], examples)
    assert len(change.added) == 1 and not change.removed and not change.relabelled


def test_a_queue_without_labels_publishes_nothing(traffic, tmp_path):
    bus, _ = traffic
    rows = [row for row in harvest(bus, since=NOW - timedelta(days=7), sample=3) if row.label is None]
    with pytest.raises(UserError, match="no row of the queue has a label"):
        publish(rows, tmp_path / "v.jsonl", source="x")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"message": {}}) + "\n")
    with pytest.raises(UserError, match="line 1"):
        load_queue(bad)
