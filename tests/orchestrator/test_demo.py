"""The demo's traffic: fresh prospects every run, and when its live view stops waiting."""

from __future__ import annotations

from sdr_pipeline.orchestrator.demo import DEMO_LEADS, DEMO_REPLIES, _tagged, workflows_over
from sdr_pipeline.orchestrator.journeys import Step


def _step(kind: str, at: str) -> Step:
    return Step(at=at, lead_id="lead", kind=kind, hop=0, agent=None, detail="")


FIRST_ROUND = [_step("message", "1"), _step("decision", "2"), _step("ended", "3")]


def test_waits_until_every_lead_has_ended() -> None:
    by_lead = {"a": FIRST_ROUND, "b": FIRST_ROUND[:2]}
    assert not workflows_over(by_lead, ["a", "b"], {})
    assert workflows_over({**by_lead, "b": FIRST_ROUND}, ["a", "b"], {})


def test_a_lead_not_seen_yet_is_not_over() -> None:
    assert not workflows_over({"a": FIRST_ROUND}, ["a", "b"], {})


def test_after_replies_only_the_replied_leads_are_waited_for_and_only_their_new_steps_count() -> None:
    seen = {"a": 3, "b": 3}
    reply_arrived = {"a": [*FIRST_ROUND, _step("message", "4")], "b": FIRST_ROUND}
    assert not workflows_over(reply_arrived, ["a"], seen), "a's reply is still being handled"
    reply_done = {**reply_arrived, "a": [*reply_arrived["a"], _step("decision", "5"), _step("ended", "6")]}
    assert workflows_over(reply_done, ["a"], seen), "b got no reply and must not hold the demo"
    assert not workflows_over(reply_done, ["a", "b"], seen), "b has no new steps, so b never 'ends again'"


def test_a_run_tag_makes_new_addresses_that_replies_share() -> None:
    assert _tagged("priya.nair@brightwave-logistics.example", "demo1130") == \
        "priya.nair+demo1130@brightwave-logistics.example"
    assert _tagged("priya.nair@brightwave-logistics.example", None) == "priya.nair@brightwave-logistics.example"
    lead_addresses = {lead["email"] for lead in DEMO_LEADS}
    assert {reply["from"] for reply in DEMO_REPLIES} <= lead_addresses, "every reply answers a demo lead"
