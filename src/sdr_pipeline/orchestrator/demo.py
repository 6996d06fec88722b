"""The demo's traffic: a handful of realistic leads through the web form, then prospect replies.

Everything goes in through the intake service's real endpoints, so the demo exercises the
whole loop: intake → incoming_leads → bridge → agent_messages → routing job → agents. Replies
are signed as an e-mail provider signs its webhook posts (`SDR_INBOUND_WEBHOOK_SECRET`, or the
local stack's generated key).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from sdr_pipeline.contracts.signing import SIGNATURE_HEADER, sign
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.infra.secrets import shared_secret
from sdr_pipeline.orchestrator.journeys import JOURNEY_TOPICS, Step, is_finished, journeys
from sdr_pipeline.settings import Settings

__all__ = ["DEMO_LEADS", "DEMO_REPLIES", "demo_run_tag", "follow", "submit_leads", "submit_replies", "workflows_over"]

logger = logging.getLogger(__name__)

DEMO_LEADS: tuple[dict[str, str], ...] = (
    {"name": "Priya Nair", "email": "priya.nair@brightwave-logistics.example", "company_name": "Brightwave Logistics",
     "job_title": "CTO", "lead_source": "web_form",
     "project_description": "We run 900 refrigerated trucks and want to stream their telemetry into our warehouse "
                            "in real time. Budget is approved for Q1; we'd like a technical call next week."},
    {"name": "Tomás Ortega", "email": "tomas@ortega-bakeries.example", "company_name": "Ortega Family Bakeries",
     "job_title": "Office manager", "lead_source": "web_form",
     "project_description": "Just browsing, maybe next year. We have three shops and a spreadsheet."},
    {"name": "Mei Chen", "email": "mei.chen@northpeak-health.example", "company_name": "Northpeak Health",
     "job_title": "VP Data Platform", "lead_source": "crm_import",
     "project_description": "Evaluating event streaming for patient-device alerts across 14 hospitals; "
                            "security review starts this month."},
)

DEMO_REPLIES: tuple[dict[str, str], ...] = (
    {"from": "priya.nair@brightwave-logistics.example", "to": "sdr@example.com", "subject": "Re: your note",
     "body": "Thanks! Could we book a 30-minute demo on Thursday? Also, what would pricing look like for 900 trucks?"},
    {"from": "tomas@ortega-bakeries.example", "to": "sdr@example.com", "subject": "Re: your note",
     "body": "Please remove me from your list, we are not interested."},
)


@dataclass(frozen=True)
class Submitted:
    lead_id: str
    label: str


def _post(client: httpx.Client, url: str, payload: dict[str, str], *, secret: str | None = None) -> dict:
    """POST `payload` as JSON (signed like a webhook when `secret` is given); the answer, or an InfraError."""
    body = json.dumps(payload).encode("utf-8")
    headers = {"content-type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret, int(time.time()))
    try:
        response = client.post(url, content=body, headers=headers, timeout=30.0)
    except httpx.HTTPError as error:
        raise InfraError("intake", f"cannot reach {url} ({type(error).__name__})",
                         fix="start it with `sdr-pipeline infra up intake`") from None
    if response.status_code >= 300:
        raise InfraError("intake", f"{url} answered {response.status_code}: {response.text[:200]}")
    return response.json()


def demo_run_tag() -> str:
    """A tag that makes this run's prospects new leads (a second demo would otherwise replay the
    first one's leads, and the router rightly stops an identical lead as a loop)."""
    return time.strftime("demo%m%d%H%M%S")


def _tagged(email: str, tag: str | None) -> str:
    """`name@domain` → `name+tag@domain` (plus addressing: the same mailbox, a distinct address)."""
    if not tag:
        return email
    local, _, domain = email.partition("@")
    return f"{local}+{tag}@{domain}"


def submit_leads(settings: Settings, leads: tuple[dict[str, str], ...] = DEMO_LEADS, *,
                 tag: str | None = None) -> list[Submitted]:
    """Post each lead to the intake JSON endpoint, as the web form would."""
    url = f"http://{settings.intake_host}:{settings.intake_port}/api/leads"
    with httpx.Client() as client:
        return [Submitted(_post(client, url, {**lead, "email": _tagged(lead["email"], tag)})["lead_id"],
                          f"{lead['name']} ({lead['company_name']})") for lead in leads]


def submit_replies(settings: Settings, replies: tuple[dict[str, str], ...] = DEMO_REPLIES, *,
                   tag: str | None = None) -> list[Submitted]:
    """Post each prospect reply to the intake's inbound e-mail webhook, signed as the e-mail provider would."""
    url = f"http://{settings.intake_host}:{settings.intake_port}/api/inbound-email"
    secret = shared_secret(settings, "inbound_webhook")
    with httpx.Client() as client:
        return [Submitted(_post(client, url, {**reply, "from": _tagged(reply["from"], tag)}, secret=secret)["lead_id"],
                          f"reply from {reply['from']}") for reply in replies]


def workflows_over(by_lead: dict[str, list[Step]], wait_for: list[str], since_steps: dict[str, int]) -> bool:
    """True once every lead in `wait_for` finished a workflow after its first `since_steps` steps."""
    return all(is_finished(by_lead.get(lead, [])[since_steps.get(lead, 0):]) for lead in wait_for)


def follow(settings: Settings, lead_ids: list[str], *, wait_for: list[str] | None = None,
           since_steps: dict[str, int] | None = None, timeout_s: float = 900.0, poll_s: float = 3.0,
           on_update: Callable[[dict[str, list[Step]]], None] = lambda _: None) -> dict[str, list[Step]]:
    """Poll the topics, reporting every update of `lead_ids`, until the workflows of `wait_for`
    (default: all of them) are over or `timeout_s` passes.

    `since_steps` counts steps already seen per lead, so a second phase (replies) waits for new
    ones, and only for the leads that got a reply.
    """
    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-demo")
    deadline = time.monotonic() + timeout_s
    waiting = wait_for if wait_for is not None else lead_ids
    try:
        while True:
            wanted = {lead: steps for lead, steps in journeys(bus.read(JOURNEY_TOPICS, idle_timeout_s=1.0)).items()
                      if lead in lead_ids}
            on_update(wanted)
            if workflows_over(wanted, waiting, since_steps or {}) or time.monotonic() > deadline:
                return wanted
            time.sleep(poll_s)
    finally:
        bus.close()
