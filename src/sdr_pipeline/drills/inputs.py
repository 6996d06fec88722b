"""Hostile and malformed input through every door: envelopes on agent_messages and incoming_leads, JSON
posts and form posts to intake, webhook bodies without a valid signature, agent calls without one.

Each input must get a clear answer: an HTTP door a 4xx with a reason (nothing reaches a topic), a
topic door a dead letter with a reason. The job and the bridge stay up: a valid lead sent after
them all ends. The table counts, per door, how it answered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx

from sdr_pipeline.contracts.signing import SIGNATURE_HEADER
from sdr_pipeline.contracts.topics import AGENT_MESSAGES, INCOMING_LEADS
from sdr_pipeline.drills._traffic import TIMEOUT_S, direct_envelope, fresh_lead, submit
from sdr_pipeline.drills.checker import DoorAnswer, Probe, Report, judge, settle
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.infra.smtp import read_mailbox

__all__ = ["ENVELOPE_CASES", "http_cases", "inputs"]

_M = "{marker}"
ENVELOPE_CASES: tuple[tuple[str, str], ...] = (
    ("not JSON", f"this is not json {_M}"),
    ("truncated JSON", f'{{"lead_id": "{_M}", "produced_by": "web_form"'),
    ("a JSON array", f'["{_M}"]'),
    ("a JSON string", f'"{_M}"'),
    ("a JSON number", f'12345 {_M}'),
    ("lead_id missing", f'{{"produced_by": "web_form", "note": "{_M}"}}'),
    ("lead_id empty", f'{{"lead_id": "", "produced_by": "web_form", "note": "{_M}"}}'),
    ("lead_id a number", f'{{"lead_id": 42, "produced_by": "web_form", "note": "{_M}"}}'),
    ("hop negative", f'{{"lead_id": "{_M}", "hop": -1, "produced_by": "web_form"}}'),
    ("hop a word", f'{{"lead_id": "{_M}", "hop": "three", "produced_by": "web_form"}}'),
    ("produced_by missing", f'{{"lead_id": "{_M}"}}'),
    ("lead a string", f'{{"lead_id": "{_M}", "produced_by": "web_form", "lead": "Bobby Tables"}}'),
    ("context a number", f'{{"lead_id": "{_M}", "produced_by": "web_form", "context": 7}}'),
    ("created_at not a date", f'{{"lead_id": "{_M}", "produced_by": "web_form", "created_at": "yesterday"}}'),
    ("not UTF-8", f'{{"lead_id": "{_M}", "produced_by": "\xff\xfe"}}'),
)
"""(name, value) for each malformed envelope; `{marker}` becomes a unique id its dead letter must keep."""


def _encode(template: str, marker: str) -> bytes:
    text = template.replace(_M, marker)
    return text.encode("latin-1") if "\xff" in text else text.encode("utf-8")


def _answer(name: str, door: str, call: Callable[[], httpx.Response]) -> DoorAnswer:
    try:
        response = call()
    except httpx.HTTPError as error:
        return DoorAnswer(name, door, 0, f"no answer ({type(error).__name__})")
    return DoorAnswer(name, door, response.status_code, response.text[:300])


def http_cases(stack: DrillStack) -> list[DoorAnswer]:
    """Every hostile HTTP input, sent; each answer kept for the judge."""
    leads, base = f"{stack.intake_url}/api/leads", fresh_lead("hostile")
    huge = "x" * (stack.settings.request_max_bytes + 10)
    json_type = {"content-type": "application/json"}
    json_posts: list[tuple[str, dict | None, bytes | None, dict[str, str]]] = [
        ("empty body", None, b"", json_type),
        ("not JSON", None, b"{not json", json_type),
        ("a JSON array", None, b"[1, 2, 3]", json_type),
        ("a JSON string", None, b'"lead"', json_type),
        ("form-encoded to the JSON door", None, b"name=a&email=b", {"content-type": "application/x-www-form-urlencoded"}),
        ("email missing", {k: v for k, v in base.items() if k != "email"}, None, json_type),
        ("email not an address", {**base, "email": "not-an-address"}, None, json_type),
        ("name missing", {k: v for k, v in base.items() if k != "name"}, None, json_type),
        ("company missing", {k: v for k, v in base.items() if k != "company_name"}, None, json_type),
        ("an unknown field", {**base, "is_admin": True}, None, json_type),
        ("name 10,000 characters", {**base, "name": "n" * 10_000}, None, json_type),
        ("CR/LF in the name (header injection)", {**base, "name": "Eve\r\nBcc: victim@example.com"}, None, json_type),
        ("CR/LF in the e-mail", {**base, "email": "eve@example.com\r\nBcc: victim@example.com"}, None, json_type),
        ("U+2028 in the name", {**base, "name": "Eve\u2028Bcc: x@example.com"}, None, json_type),
        ("name a number", {**base, "name": 42}, None, json_type),
        ("body over the size limit", None, json.dumps({**base, "project_description": huge}).encode(), json_type),
        ("JSON nested 5,000 deep", None, ("[" * 5000 + "]" * 5000).encode(), json_type),
        ("an Idempotency-Key with control characters", base, None, {**json_type, "Idempotency-Key": "a\x01b"}),
    ]
    answers = [_answer(name, "intake JSON", lambda p=payload, c=content, h=headers:
                       httpx.post(leads, json=p if c is None else None, content=c, headers=h, timeout=TIMEOUT_S))
               for name, payload, content, headers in json_posts]
    form = f"{stack.intake_url}/"
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    form_posts: list[tuple[str, bytes, dict[str, str]]] = [
        ("empty form", b"", form_type),
        ("e-mail missing", b"name=Eve&company_name=Acme", form_type),
        ("e-mail not an address", b"name=Eve&email=nope&company_name=Acme", form_type),
        ("an unknown field", b"name=Eve&email=eve%40example.com&company_name=Acme&is_admin=1", form_type),
        ("CR/LF in the name", b"name=Eve%0D%0ABcc%3A+x%40example.com&email=eve%40example.com&company_name=Acme",
         form_type),
        ("not UTF-8", b"name=%FF%FE&email=eve%40example.com&company_name=Acme", form_type),
        ("JSON sent to the form", json.dumps(base).encode(), {"content-type": "application/json"}),
        ("form over the size limit", b"name=" + huge.encode() + b"&email=eve%40example.com", form_type),
    ]
    answers += [_answer(name, "form", lambda c=content, h=headers:
                        httpx.post(form, content=c, headers=h, timeout=TIMEOUT_S, follow_redirects=False))
                for name, content, headers in form_posts]
    hook = f"{stack.intake_url}/api/inbound-email"
    reply = json.dumps({"from": base["email"], "to": "sdr@example.com", "subject": "Re: hi", "body": "Book a demo"}).encode()
    webhook_posts: list[tuple[str, bytes, dict[str, str]]] = [
        ("a reply without a signature", reply, json_type),
        ("a reply with a forged signature", reply, {**json_type, SIGNATURE_HEADER: "t=1,v1=" + "0" * 64}),
        ("a reply with a signature header of garbage", reply, {**json_type, SIGNATURE_HEADER: "garbage"}),
        ("not JSON, unsigned", b"{not json", json_type),
    ]
    answers += [_answer(name, "inbound webhook", lambda c=content, h=headers:
                        httpx.post(hook, content=c, headers=h, timeout=TIMEOUT_S))
                for name, content, headers in webhook_posts]
    envelope, _ = direct_envelope("agent-call")
    agent_posts: list[tuple[str, str, dict[str, str]]] = [
        ("lead_ingestion without a signature", "lead_ingestion", json_type),
        ("send_email without a signature", "send_email", json_type),
        ("send_email with a forged signature", "send_email", {**json_type, SIGNATURE_HEADER: "t=1,v1=" + "0" * 64}),
        ("an unknown agent", "no_such_agent", json_type),
    ]
    answers += [_answer(name, "agent calls", lambda a=agent, h=headers:
                        httpx.post(f"{stack.agents_url}/agents/{a}", content=envelope.to_bytes(), headers=h,
                                   timeout=TIMEOUT_S))
                for name, agent, headers in agent_posts]
    return answers


def inputs(stack: DrillStack, *, timeout_s: float) -> Report:
    """Every malformed envelope on both topics and every hostile HTTP input, then a valid lead down each path."""
    probes: list[Probe] = []
    for topic in (AGENT_MESSAGES, INCOMING_LEADS):
        for name, template in ENVELOPE_CASES:
            marker = f"drill-input-{uuid.uuid4().hex[:12]}"
            stack.bus.publish(topic, _encode(template, marker), key=marker)
            probes.append(Probe(name, topic, lambda d, m=marker: m in str(d.get("raw_value", ""))))
    answers = http_cases(stack)
    leads = [submit(stack, fresh_lead("after-inputs"))]  # through intake, the bridge and the job, after every pill
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, probes, timeout_s=timeout_s)
    report = judge("inputs", stack.model, observation, leads, probes=probes, answers=answers, seconds=seconds)
    report.notes.append(f"{len(probes) + len(answers)} hostile inputs: {len(probes)} envelopes on "
                        f"{AGENT_MESSAGES} and {INCOMING_LEADS}, {len(answers)} HTTP posts")
    if stack.owned:
        for part in ("router", "intake", "agents"):
            if not stack.alive(part):
                report.failures.append(f"the {part} process died during the drill")
    return report
