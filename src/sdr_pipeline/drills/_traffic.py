"""What drills put in: fresh leads through intake's public doors, raw records straight onto a topic."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass

import httpx

from sdr_pipeline.contracts import Envelope, Lead
from sdr_pipeline.contracts.topics import WORKFLOW_EVENTS
from sdr_pipeline.drills.checker import DrillLead
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra.bus import Record

TIMEOUT_S = 30.0
"""Any one call to intake: a drill must not hang on a door."""


def fresh_lead(label: str) -> dict[str, str]:
    """A lead no earlier run has seen (intake keeps one lead per address within a window)."""
    tag = uuid.uuid4().hex[:10]
    return {"name": f"Drill {label.title()}", "email": f"drill.{label}.{tag}@example.com",
            "company_name": f"Drill {tag} GmbH", "job_title": "Head of Data",
            "project_description": "We need real-time streaming of sensor data; budget approved, call next week."}


@dataclass(frozen=True)
class Posted:
    status: int
    body: str
    lead_id: str | None = None


def post_json(stack: DrillStack, path: str, payload: object | None = None, *, content: bytes | None = None,
              headers: dict[str, str] | None = None) -> Posted:
    """POST to intake (or any URL under it) and keep the answer; a door that cannot be reached is an InfraError."""
    url = path if path.startswith("http") else f"{stack.intake_url}{path}"
    try:
        response = httpx.post(url, json=payload if content is None else None, content=content,
                              headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as error:
        raise InfraError("intake", f"cannot reach {url} ({type(error).__name__})",
                         fix="check `sdr-pipeline infra status`; a drill's own stack logs under its state folder") from None
    lead_id = None
    if response.headers.get("content-type", "").startswith("application/json"):
        data = response.json()
        lead_id = data.get("lead_id") if isinstance(data, dict) else None
    return Posted(response.status_code, response.text, lead_id)


def submit(stack: DrillStack, lead: dict[str, str]) -> DrillLead:
    """One lead through the JSON endpoint, as the web form's script would send it; it must be accepted."""
    posted = post_json(stack, "/api/leads", lead)
    if posted.status not in (200, 201) or not posted.lead_id:
        raise InfraError("intake", f"refused a valid drill lead with {posted.status}: {posted.body[:200]}",
                         fix="look at the intake log; a drill's leads are valid by construction")
    return DrillLead(posted.lead_id, lead["email"])


def form_token(stack: DrillStack) -> str:
    """The one-time token of a freshly loaded form page."""
    page = httpx.get(f"{stack.intake_url}/", timeout=TIMEOUT_S).text
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    if not found:
        raise InfraError("intake", "the lead form carries no form_token", fix="look at intake/form.py")
    return found.group(1)


def direct_envelope(label: str) -> tuple[Envelope, DrillLead]:
    """A fresh web-form lead written straight onto agent_messages, past intake."""
    lead = fresh_lead(label)
    envelope = Envelope(lead_id=f"drill-{label}-{uuid.uuid4().hex[:10]}", produced_by="web_form", lead=Lead(**lead))
    return envelope, DrillLead(envelope.lead_id, lead["email"])


def values(records: list[Record]) -> list[dict]:
    """The JSON objects among `records` (anything else skipped)."""
    found = []
    for record in records:
        try:
            value = json.loads(record.value) if record.value is not None else None
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def events_of(stack: DrillStack, leads: list[DrillLead], kind: str) -> list[dict]:
    """The workflow events of `kind` for `leads`, as on the topic now."""
    ids = {lead.lead_id for lead in leads}
    return [e for e in values(stack.bus.read([WORKFLOW_EVENTS], idle_timeout_s=1.0))
            if e.get("lead_id") in ids and e.get("kind") == kind]


def wait_for_first_dispatch(stack: DrillStack, leads: list[DrillLead], *, timeout_s: float) -> int:
    """Block until an agent has taken a message of `leads` (a fault after that is mid-flight); how many were."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dispatched = events_of(stack, leads, "dispatched")
        if dispatched:
            return len(dispatched)
        time.sleep(0.2)
    raise UserError("no lead of the burst was dispatched before the fault", fix="check the router's log")
