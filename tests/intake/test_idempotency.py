"""Intake is idempotent: a form token or Idempotency-Key sent again, or the same e-mail address within the
dedup window, gets the lead accepted first (same lead id and message id) and publishes nothing; the memory
is in SQLite, so it survives a restart; the retry of a failed publish sends the same message id again."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from sdr_pipeline.contracts import INCOMING_LEADS, parse_envelope
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.intake import LeadStore, create_app
from sdr_pipeline.settings import Settings

pytestmark = pytest.mark.anyio

LEAD = {"name": "Jo Weber", "email": "jo@northwind-logistics.example", "company_name": "Northwind Logistics"}
OTHER = {"name": "Ana Lima", "email": "ana@lumen-retail.example", "company_name": "Lumen Retail"}


def client_for(tmp_path: Path, publisher, store: LeadStore, **settings) -> httpx.AsyncClient:
    app = create_app(Settings(state_dir=tmp_path / "state", **settings), publisher=publisher, leads=store)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test")


def published(bus: InMemoryBus) -> list:
    return [parse_envelope(r.value) for r in bus.topics.get(INCOMING_LEADS, [])]


# --- Idempotency-Key on the JSON endpoint -----------------------------------------------------

async def test_the_same_key_again_returns_the_first_lead(tmp_path, bus, store) -> None:
    async with client_for(tmp_path, bus, store, intake_dedup_window_s=0) as client:
        first = await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-1"})
        again = await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "duplicate" and "nothing new was published" in again.json()["detail"]
    ids = ("lead_id", "message_id")
    assert [again.json()[k] for k in ids] == [first.json()[k] for k in ids]
    [envelope] = published(bus)
    assert envelope.message_id == first.json()["message_id"]


async def test_a_key_reused_for_another_lead_is_a_conflict(tmp_path, bus, store) -> None:
    async with client_for(tmp_path, bus, store) as client:
        await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-1"})
        reused = await client.post("/api/leads", json=OTHER, headers={"Idempotency-Key": "k-1"})
    assert reused.status_code == 409 and "new key" in reused.json()["detail"]
    assert len(published(bus)) == 1


@pytest.mark.parametrize("key", ["x" * 256, "clé".encode(), "a\tb"], ids=["too_long", "not_ascii", "control"])
async def test_a_key_we_cannot_store_is_refused(tmp_path, bus, store, key) -> None:
    async with client_for(tmp_path, bus, store) as client:
        response = await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": key})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["detail"]
    assert published(bus) == []


async def test_two_identical_posts_at_once_make_one_lead(tmp_path, bus, store) -> None:
    async with client_for(tmp_path, bus, store, intake_dedup_window_s=0) as client:
        answers = await asyncio.gather(*(client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-2"})
                                         for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert len({a.json()["message_id"] for a in answers}) == 1 and len(published(bus)) == 1


# --- one lead per e-mail address within the window --------------------------------------------

async def test_the_same_address_within_the_window_returns_the_existing_lead(tmp_path, bus, store) -> None:
    async with client_for(tmp_path, bus, store) as client:
        first = await client.post("/api/leads", json=LEAD)
        again = await client.post("/api/leads", json={**LEAD, "email": "JO@Northwind-Logistics.example",
                                                      "job_title": "VP Sales"})
        other = await client.post("/api/leads", json=OTHER)
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["lead_id"] == first.json()["lead_id"] and "SDR_INTAKE_DEDUP_WINDOW_S" in again.json()["detail"]
    assert [e.lead.email for e in published(bus)] == [LEAD["email"], OTHER["email"]]


def test_after_the_window_the_same_address_is_a_new_message_of_the_same_lead(store) -> None:
    first = store.admit(email="jo@x.example", fingerprint="f1", token=None, window_s=100, ttl_s=1000, now=1_000)
    store.published(first)
    from sdr_pipeline.contracts import Lead

    store.record(first.lead_id, Lead(email="jo@x.example"))
    inside = store.admit(email="jo@x.example", fingerprint="f2", token=None, window_s=100, ttl_s=1000, now=1_099)
    after = store.admit(email="jo@x.example", fingerprint="f2", token=None, window_s=100, ttl_s=1000, now=1_101)
    assert inside.outcome == "same_email" and inside.message_id == first.message_id
    assert after.outcome == "new" and after.lead_id == first.lead_id and after.message_id != first.message_id


def test_a_key_is_forgotten_after_its_ttl(store) -> None:
    first = store.admit(email="a@x.example", fingerprint="f", token="k", window_s=0, ttl_s=50, now=1_000)
    store.published(first)
    assert store.admit(email="a@x.example", fingerprint="f", token="k", window_s=0, ttl_s=50,
                       now=1_049).outcome == "same_key"
    assert store.admit(email="a@x.example", fingerprint="f", token="k", window_s=0, ttl_s=50,
                       now=1_051).outcome == "new"


def test_the_retry_of_a_submission_whose_process_died_sends_the_same_message_again(store) -> None:
    first = store.admit(email="a@x.example", fingerprint="f", token="k", window_s=86_400, ttl_s=86_400, now=1_000)
    # never published: the intake was killed mid-request
    in_flight = store.admit(email="a@x.example", fingerprint="f", token="k", window_s=86_400, ttl_s=86_400, now=1_030)
    retry = store.admit(email="a@x.example", fingerprint="f", token="k", window_s=86_400, ttl_s=86_400, now=1_070)
    assert in_flight.outcome == "same_key" and not in_flight.to_publish
    assert retry.outcome == "resend" and retry.to_publish
    assert (retry.lead_id, retry.message_id) == (first.lead_id, first.message_id)


def test_after_a_failed_publish_a_different_submission_replaces_it_for_the_same_lead(store) -> None:
    first = store.admit(email="a@x.example", fingerprint="f1", token=None, window_s=600, ttl_s=600, now=1_000)
    store.failed(first, now=1_010)
    same = store.admit(email="a@x.example", fingerprint="f1", token=None, window_s=600, ttl_s=600, now=1_020)
    assert same.outcome == "resend" and same.message_id == first.message_id
    store.failed(same, now=1_030)
    edited = store.admit(email="A@x.example", fingerprint="f2", token=None, window_s=600, ttl_s=600, now=1_040)
    assert edited.outcome == "new" and edited.lead_id == first.lead_id and edited.message_id != first.message_id
    store.published(edited, now=1_041)
    assert store.admit(email="a@x.example", fingerprint="f3", token=None, window_s=600, ttl_s=600,
                       now=1_050).outcome == "same_email"


def test_admission_is_atomic_across_threads(store) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        outcomes.append(store.admit(email="jo@x.example", fingerprint="f", token=None, window_s=60, ttl_s=60).outcome)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["new"] + ["same_email"] * 7


async def test_the_memory_survives_a_restart(tmp_path, bus) -> None:
    path = tmp_path / "leads.sqlite"
    first_store = LeadStore(path)
    async with client_for(tmp_path, bus, first_store) as client:
        first = await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-3"})
    first_store.close()
    restarted = LeadStore(path)
    async with client_for(tmp_path, bus, restarted) as client:
        by_key = await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-3"})
        by_email = await client.post("/api/leads", json=LEAD)
    restarted.close()
    assert by_key.status_code == by_email.status_code == 200
    assert by_key.json()["message_id"] == by_email.json()["message_id"] == first.json()["message_id"]
    assert len(published(bus)) == 1


class FlakyPublisher:
    """Fails the first publish as a broker outage would, then stores like the in-memory bus."""

    def __init__(self, bus: InMemoryBus) -> None:
        self.bus = bus
        self.failures = 1
        self.attempted: list[str] = []

    def publish(self, topic: str, message: BaseModel) -> None:
        self.attempted.append(message.message_id)  # type: ignore[attr-defined]
        if self.failures:
            self.failures -= 1
            raise InfraError("kafka", "could not publish to incoming_leads (KafkaTimeoutError)")
        self.bus.publish(topic, message)


async def test_the_retry_of_a_failed_publish_is_accepted_with_the_same_message_id(tmp_path, bus, store) -> None:
    flaky = FlakyPublisher(bus)
    async with client_for(tmp_path, flaky, store) as client:
        failed = await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-4"})
        retried = await client.post("/api/leads", json=LEAD, headers={"Idempotency-Key": "k-4"})
        flaky.failures = 1
        failed_again = await client.post("/api/leads", json=OTHER)
        without_key = await client.post("/api/leads", json=OTHER)  # the same address, retried by hand
        repeat = await client.post("/api/leads", json=OTHER)
    assert (failed.status_code, retried.status_code) == (503, 201)
    assert (failed_again.status_code, without_key.status_code, repeat.status_code) == (503, 201, 200)
    # a timed-out publish may still land: the retry re-sends that message id, so downstream sees one message
    assert flaky.attempted[0] == retried.json()["message_id"] and flaky.attempted[2] == without_key.json()["message_id"]
    assert [e.message_id for e in published(bus)] == [retried.json()["message_id"], without_key.json()["message_id"]]


# --- the form's one-time token ------------------------------------------------------------------

def token_of(page: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match, "the form carries no token"
    return match.group(1)


async def test_the_same_form_page_sent_twice_is_one_lead(tmp_path, bus, store) -> None:
    async with client_for(tmp_path, bus, store, intake_dedup_window_s=0) as client:
        page = (await client.get("/")).text
        token = token_of(page)
        first = await client.post("/", data={**LEAD, "form_token": token})
        again = await client.post("/", data={**LEAD, "form_token": token})
        fresh_page = (await client.get("/")).text
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert token_of(fresh_page) != token
    [envelope] = published(bus)
    assert "form_token" not in envelope.model_dump() and envelope.lead.email == LEAD["email"]


async def test_a_form_shown_again_with_errors_keeps_its_token(tmp_path, bus, store) -> None:
    async with client_for(tmp_path, bus, store) as client:
        rejected = await client.post("/", data={**LEAD, "email": "nope", "form_token": "t-1"})
    assert rejected.status_code == 422 and token_of(rejected.text) == "t-1"


async def test_an_edited_page_sent_again_with_another_address_is_its_own_lead(tmp_path, bus, store) -> None:
    async with client_for(tmp_path, bus, store) as client:
        first = await client.post("/", data={**LEAD, "form_token": "t-2"})
        edited = await client.post("/", data={**OTHER, "form_token": "t-2"})
    assert first.headers["location"] != edited.headers["location"]
    assert [e.lead.email for e in published(bus)] == [LEAD["email"], OTHER["email"]]
