"""RoutingDecision, DeadLetter and ControlMessage: what the job writes besides envelopes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sdr_pipeline.contracts import ControlMessage, DeadLetter, RoutingDecision, parse_control_message
from sdr_pipeline.exceptions import AgentCallError, ContractError


def _decision(**overrides) -> dict:
    fields = dict(message_id="m1", lead_id="l1", hop=2, agent="lead_scoring", confidence=0.7, reason="r",
                  policy="llm", prompt_name="router", prompt_version="v1", prompt_hash="ab" * 32, model="qwen",
                  candidates=["lead_scoring"], llm_called=True, latency_s=1.2, prompt_tokens=700,
                  completion_tokens=30)
    return {**fields, **overrides}


def test_decision_defaults_and_totals() -> None:
    decision = RoutingDecision(**_decision())
    assert decision.total_tokens == 730 and decision.cost_usd == 0.0 and decision.raw_output is None
    assert decision.decided_at.tzinfo is not None


@pytest.mark.parametrize("bad", [{"confidence": 1.2}, {"policy": "random"}, {"hop": -1}, {"surprise": 1}])
def test_decision_rejects_bad_fields(bad: dict) -> None:
    with pytest.raises(ValidationError):
        RoutingDecision(**_decision(**bad))


def test_dead_letter_from_an_agent_error_keeps_ids_and_the_raw_bytes() -> None:
    error = AgentCallError("send_email", "HTTP 500 three times", status_code=500, message_id="m9")
    letter = DeadLetter.from_error(b'{"lead_id": "l9", \xff}', error, stage="dispatch")
    assert (letter.stage, letter.error_type, letter.agent, letter.message_id) == (
        "dispatch", "AgentCallError", "send_email", "m9")
    assert letter.raw_value.startswith('{"lead_id": "l9"') and "\ufffd" in letter.raw_value
    assert "HTTP 500" in letter.reason
    assert DeadLetter.model_validate_json(letter.to_bytes()) == letter


def test_dead_letter_from_a_contract_error() -> None:
    error = ContractError("envelope", "Field required", field="lead_id", message_id="m3")
    letter = DeadLetter.from_error('{"hop": 0}', error, stage="validation")
    assert (letter.message_id, letter.lead_id, letter.raw_output) == ("m3", None, None)
    assert "lead_id" in letter.reason


def test_control_message_round_trip_and_errors() -> None:
    message = parse_control_message(b'{"prompt": "router", "version": "v3"}')
    assert (message.prompt, message.version) == ("router", "v3")
    assert parse_control_message(message.to_bytes()) == message
    assert isinstance(message, ControlMessage)
    with pytest.raises(ContractError, match="version"):
        parse_control_message('{"prompt": "router"}')
    with pytest.raises(ContractError, match="not valid JSON"):
        parse_control_message(b"{nope")
    with pytest.raises(ContractError, match="expected a JSON object"):
        parse_control_message("[1]")
