"""Drills of things arriving twice: a byte-for-byte copy on agent_messages, the same lead submitted twice at once.

At-least-once delivery is the rule (bridge and producer retries, an agent rerun, a double click),
so a copy must be dropped as a `duplicate`, never taken for a loop that stops the lead.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from sdr_pipeline.contracts.topics import AGENT_MESSAGES, WORKFLOW_EVENTS
from sdr_pipeline.drills._traffic import TIMEOUT_S, form_token, fresh_lead, post_json, submit
from sdr_pipeline.drills.checker import DoorAnswer, DrillLead, Report, judge, settle
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.smtp import read_mailbox

__all__ = ["double_submit", "duplicate"]


def _raw_of(stack: DrillStack, lead_id: str, produced_by: str, *, timeout_s: float) -> bytes:
    """The exact bytes of the lead's first message from `produced_by` on agent_messages, once it is there."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in stack.bus.read([AGENT_MESSAGES], idle_timeout_s=1.0):
            try:
                value = json.loads(record.value)
            except (TypeError, ValueError, RecursionError):
                continue
            if isinstance(value, dict) and value.get("lead_id") == lead_id and value.get("produced_by") == produced_by:
                return record.value
        time.sleep(0.5)
    raise InfraError("drill", f"lead {lead_id} produced no {produced_by} message within {timeout_s:.0f} s",
                     fix="the stack is not routing: look at the router and agents logs")


def duplicate(stack: DrillStack, *, timeout_s: float) -> Report:
    """Copy a lead's first envelope and its research profile byte for byte onto agent_messages: the copies are
    dropped as duplicates and the lead still ends with exactly its e-mails."""
    lead = submit(stack, fresh_lead("duplicate"))
    copies = [_raw_of(stack, lead.lead_id, producer, timeout_s=timeout_s)
              for producer in ("web_form", "lead_ingestion")]
    for raw in copies:
        stack.bus.publish(AGENT_MESSAGES, raw, key=lead.lead_id)
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), [lead], [], timeout_s=timeout_s)
    deadline = time.monotonic() + 15.0  # the copy of an already ended lead has nothing to wait for: give it a moment
    while time.monotonic() < deadline:
        dropped = [e for e in observation.events if e.get("lead_id") == lead.lead_id and e.get("kind") == "duplicate"]
        if len(dropped) >= len(copies):
            break
        time.sleep(1.0)
        observation, _ = settle(stack.bus, lambda: read_mailbox(stack.settings), [lead], [], timeout_s=timeout_s)
    report = judge("duplicate", stack.model, observation, [lead], seconds=seconds)
    dropped = [e for e in observation.events if e.get("lead_id") == lead.lead_id and e.get("kind") == "duplicate"]
    report.notes.append(f"{len(copies)} byte-for-byte copies injected on {AGENT_MESSAGES}; "
                        f"{len(dropped)} `duplicate` event(s) on {WORKFLOW_EVENTS}")
    if len(dropped) < len(copies):
        report.failures.append(f"{len(copies)} copies injected but only {len(dropped)} recognised as duplicates")
    return report


def _post_form(url: str, fields: dict[str, str]) -> DoorAnswer:
    response = httpx.post(url, data=fields, timeout=TIMEOUT_S, follow_redirects=False)
    return DoorAnswer("form", "form", response.status_code, response.headers.get("location", ""))


def double_submit(stack: DrillStack, *, timeout_s: float) -> Report:
    """The same lead sent twice at the same moment through each door — JSON without a key, JSON with one
    Idempotency-Key, the form with one page token — must be one lead each, ending with one e-mail."""
    json_plain, json_keyed, form = fresh_lead("double-json"), fresh_lead("double-key"), fresh_lead("double-form")
    key = uuid.uuid4().hex
    token = form_token(stack)
    with ThreadPoolExecutor(max_workers=6) as pool:
        plain = [pool.submit(post_json, stack, "/api/leads", json_plain) for _ in range(2)]
        keyed = [pool.submit(post_json, stack, "/api/leads", json_keyed, headers={"Idempotency-Key": key})
                 for _ in range(2)]
        forms = [pool.submit(_post_form, f"{stack.intake_url}/", {**form, "form_token": token}) for _ in range(2)]
        answers = {"json": [f.result() for f in plain], "json+key": [f.result() for f in keyed]}
        form_answers = [f.result() for f in forms]
    leads: list[DrillLead] = []
    report_notes, failures = [], []
    for door, pair in answers.items():
        ids = {posted.lead_id for posted in pair}
        statuses = sorted(posted.status for posted in pair)
        report_notes.append(f"{door}: answered {statuses}, lead ids {sorted(i or '-' for i in ids)}")
        if len(ids) != 1 or None in ids:
            failures.append(f"the same lead posted twice at once to {door} became {len(ids)} lead ids: {ids}")
        leads.extend(DrillLead(lead_id, (json_plain if door == "json" else json_keyed)["email"])
                     for lead_id in ids if lead_id)
    form_ids = {answer.detail.rsplit("lead_id=", 1)[-1] for answer in form_answers if "lead_id=" in answer.detail}
    report_notes.append(f"form: answered {sorted(a.status for a in form_answers)}, lead ids {sorted(form_ids)}")
    if len(form_ids) != 1:
        failures.append(f"the same form page sent twice at once became {len(form_ids)} lead ids: {form_ids}")
    leads.extend(DrillLead(lead_id, form["email"]) for lead_id in form_ids)
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, [], timeout_s=timeout_s)
    report = judge("double-submit", stack.model, observation, leads, seconds=seconds)
    per_address = {}
    for message in observation.messages:
        email = ((message.get("lead") or {}).get("email") or "").lower()
        if message.get("produced_by") == "web_form" and email in {l.email for l in leads}:
            per_address.setdefault(email, set()).add(message.get("lead_id"))
    for email, lead_ids in per_address.items():
        if len(lead_ids) != 1:
            failures.append(f"{email} reached agent_messages as {len(lead_ids)} leads")
    report.notes.extend(report_notes)
    report.failures.extend(failures)
    return report
