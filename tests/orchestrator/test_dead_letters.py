"""`deadletters list|replay`: reading dead letters, and what a replay puts back into the job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from sdr_pipeline.cli.main import app
from sdr_pipeline.contracts import Envelope
from sdr_pipeline.contracts.decision import ControlMessage, DeadLetter
from sdr_pipeline.contracts.raw import RecordBounds
from sdr_pipeline.contracts.topics import DEAD_LETTERS, REDELIVERIES, ROUTER_CONTROL
from sdr_pipeline.contracts.workflow import DispatchTask, Redelivery, RouteTask
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.orchestrator.dead_letters import (
    live_prompt_version,
    parse_since,
    plan_replay,
    publish_replays,
    read_letters,
    replayed_refs,
)
from sdr_pipeline.orchestrator.steps import Redeliver
from tests.orchestrator.test_steps import DISPATCH_SECRET, _decided, _raw_lead

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _letter(stage: str, *, lead_id: str = "lead-1", raw: str | None = None, failed_at: datetime = NOW,
            with_decision: bool = False) -> DeadLetter:
    envelope = _raw_lead(lead_id=lead_id)
    decision = DispatchTask.model_validate_json(_decided("lead_ingestion", envelope=envelope)).decision
    return DeadLetter(raw_value=raw if raw is not None else envelope.to_json(), reason=f"{stage} broke", stage=stage,
                      error_type="AgentCallError", lead_id=lead_id, message_id=envelope.message_id,
                      decision=decision if with_decision else None, failed_at=failed_at)


def _bus(*letters: DeadLetter) -> InMemoryBus:
    bus = InMemoryBus()
    for letter in letters:
        bus.publish(DEAD_LETTERS, letter.to_bytes(), key=letter.lead_id)
    return bus


def _plan(stored, **kwargs):
    return plan_replay(stored, secret=DISPATCH_SECRET, prompt_name="router", prompt_version="v6",
                       bounds=RecordBounds(), already=kwargs.pop("already", set()), **kwargs)


def test_since_takes_spans_and_dates():
    assert parse_since("90m", now=NOW) == NOW - timedelta(minutes=90)
    assert parse_since("2d", now=NOW) == NOW - timedelta(days=2)
    assert parse_since("2026-12-01T14:00") == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    with pytest.raises(UserError, match="neither a span nor a date"):
        parse_since("yesterday-ish")


def test_letters_are_filtered_by_stage_time_lead_and_ref():
    bus = _bus(_letter("dispatch"), _letter("routing", failed_at=NOW - timedelta(hours=3)),
               _letter("dispatch", lead_id="lead-2"))
    bus.publish(DEAD_LETTERS, b"not a dead letter")
    letters, unreadable = read_letters(bus)
    assert len(letters) == 3 and unreadable == 1
    assert [s.letter.stage for s in read_letters(bus, stages=["routing"])[0]] == ["routing"]
    assert len(read_letters(bus, since=NOW - timedelta(hours=1))[0]) == 2
    assert [s.letter.lead_id for s in read_letters(bus, lead_id="lead-2")[0]] == ["lead-2"]
    assert [s.ref for s in read_letters(bus, refs=["dead_letters/0/1"])[0]] == ["dead_letters/0/1"]


def test_a_dispatch_letter_goes_back_to_its_agent_signed_and_due_now():
    [stored] = read_letters(_bus(_letter("dispatch", with_decision=True)))[0]
    plan = _plan(stored)
    record = plan.redelivery
    assert record is not None and record.stage == "dispatch" and record.replay_of == "dead_letters/0/0"
    assert DispatchTask.model_validate_json(record.task).decision.agent == "lead_ingestion"
    assert plan.goes_to == "dispatch to lead_ingestion"
    [held] = Redeliver(secret=DISPATCH_SECRET).take(record.model_dump_json())
    assert held.key == "lead-1", "the job takes the replay back"
    assert Redeliver.release([(record.message_id, held.value)], now_ms=record.due_ms)[1][0].topic == "__dispatch__"


def test_other_letters_go_back_to_the_router_with_the_live_version():
    [stored] = read_letters(_bus(_letter("routing")))[0]
    record = _plan(stored).redelivery
    assert record is not None and record.stage == "routing"
    assert RouteTask.model_validate_json(record.task).prompt_version == "v6"


@pytest.mark.parametrize(("letter", "phrase"), [
    (_letter("validation", raw='{"lead_id": "lead-1"}'), "still invalid"),
    (_letter("control", raw=ControlMessage(prompt="router", version="v9").model_dump_json()), "prompts promote"),
    (_letter("validation", raw="x" * 10 + " … [cut: 900,000 bytes in all, sha256 ab]"), "too large"),
], ids=["invalid", "control", "cut"])
def test_letters_that_cannot_go_back_say_why(letter, phrase):
    [stored] = read_letters(_bus(letter))[0]
    plan = _plan(stored)
    assert plan.redelivery is None and phrase in (plan.why_not or "")


def test_a_letter_replayed_once_is_skipped_unless_asked_again():
    bus = _bus(_letter("dispatch", with_decision=True))
    [stored] = read_letters(bus)[0]
    assert publish_replays(bus, [_plan(stored)]) == 1
    already = replayed_refs(bus)
    assert already == {stored.ref}
    assert "already replayed" in (_plan(stored, already=already).why_not or "")
    assert _plan(stored, already=already, again=True).redelivery is not None


def test_the_live_version_is_the_last_announcement_for_the_prompt():
    bus = InMemoryBus()
    assert live_prompt_version(bus, "router", "v6") == "v6"
    for prompt, version in (("router", "v4"), ("other", "v1"), ("router", "v5")):
        bus.publish(ROUTER_CONTROL, ControlMessage(prompt=prompt, version=version).to_bytes(), key=prompt)
    assert live_prompt_version(bus, "router", "v6") == "v5"


@pytest.mark.kafka
def test_the_command_lists_and_replays_through_a_real_broker(kafka, tmp_path, monkeypatch):
    from sdr_pipeline.infra.bus import KafkaBus

    monkeypatch.setenv("SDR_KAFKA_PORT", str(kafka.kafka_port))
    monkeypatch.setenv("SDR_STATE_DIR", str(kafka.state_dir))
    monkeypatch.setenv("SDR_DISPATCH_SECRET", DISPATCH_SECRET)
    lead_id = f"lead-cli-{tmp_path.name}"
    bus = KafkaBus(kafka.bootstrap_servers, client_id="test-deadletters")
    try:
        for letter in (_letter("dispatch", lead_id=lead_id, with_decision=True),
                       _letter("validation", lead_id=lead_id, raw="{broken")):
            bus.publish(DEAD_LETTERS, letter.to_bytes(), key=lead_id)
        runner = CliRunner()
        listed = runner.invoke(app, ["deadletters", "list", "--lead", lead_id, "--json"])
        assert listed.exit_code == 0, listed.output
        rows = [json.loads(line) for line in listed.output.splitlines()]
        assert [row["stage"] for row in rows] == ["dispatch", "validation"]
        assert rows[0]["decided_agent"] == "lead_ingestion" and rows[0]["ref"].startswith("dead_letters/0/")
        dry = runner.invoke(app, ["deadletters", "replay", "--lead", lead_id, "--dry-run"])
        assert dry.exit_code == 0 and "would replay 1, skipped 1" in " ".join(dry.output.split()), dry.output
        done = runner.invoke(app, ["deadletters", "replay", "--lead", lead_id])
        assert done.exit_code == 0 and "replayed 1, skipped 1" in " ".join(done.output.split()), done.output
        again = runner.invoke(app, ["deadletters", "replay", "--lead", lead_id, "--json"])
        assert [json.loads(line)["why_not"].split(" (")[0] for line in again.output.splitlines()][0] == "already replayed"
        records = [Redelivery.model_validate_json(r.value) for r in bus.read([REDELIVERIES]) if r.key == lead_id]
        assert len(records) == 1 and records[0].valid_for(DISPATCH_SECRET) and records[0].stage == "dispatch"
        wrong = runner.invoke(app, ["deadletters", "list", "--stage", "sending"])
        assert isinstance(wrong.exception, UserError) and "use one of validation" in str(wrong.exception)
    finally:
        bus.close()
