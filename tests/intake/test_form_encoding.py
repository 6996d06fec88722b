"""A form field that percent-decodes to bytes that are not UTF-8 is refused, not stored as "�" (found by
`sdr-pipeline drill inputs`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sdr_pipeline.contracts import INCOMING_LEADS
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.intake import LeadStore, create_app
from sdr_pipeline.settings import Settings

pytestmark = pytest.mark.anyio


async def test_a_form_field_that_is_not_utf8_is_a_400_and_publishes_nothing(tmp_path: Path) -> None:
    bus, store = InMemoryBus(), LeadStore(tmp_path / "leads.sqlite")
    app = create_app(Settings(state_dir=tmp_path / "state"), publisher=bus, leads=store)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test") as client:
            response = await client.post("/", content=b"name=%FF%FE&email=eve%40example.com&company_name=Acme",
                                         headers={"content-type": "application/x-www-form-urlencoded"})
    finally:
        store.close()
    assert response.status_code == 400 and "not UTF-8" in response.text
    assert not bus.topics.get(INCOMING_LEADS)
