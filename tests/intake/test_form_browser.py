"""The lead form in a real headless Chromium, on a real uvicorn server, writing to the real Kafka broker:
a valid lead lands on incoming_leads; a bad one shows the person the error and lands nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.contracts import INCOMING_LEADS, parse_envelope
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.intake import create_app
from sdr_pipeline.settings import Settings
from tests.intake.conftest import serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.kafka]


def fill(driver, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    for field, value in values.items():
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "submit").click()


def wait_for(driver, element_id: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, element_id)))


def test_form_in_a_real_browser(browser, kafka: Settings, tmp_path: Path) -> None:
    bus = KafkaBus(kafka.bootstrap_servers, client_id="browser-test")
    settings = Settings(state_dir=tmp_path / "state", kafka_port=kafka.kafka_port)
    try:
        with serve_in_thread(create_app(settings, publisher=bus)) as base_url:
            browser.get(base_url + "/")
            assert "Talk to our team" in browser.title
            fill(browser, {"name": "Rita Browser", "email": "rita@acme-anvils.example", "company_name": "Acme Anvils",
                           "company_website": "acme-anvils.example", "job_title": "COO",
                           "project_description": "Quotes take us three days."})
            lead_id = wait_for(browser, "lead-id").text
            assert lead_id

            browser.get(base_url + "/")
            fill(browser, {"name": "Bad Input", "email": "not-an-email", "company_name": "Acme Anvils"})
            error = wait_for(browser, "error-email")
            assert "e-mail address" in error.text
            assert wait_for(browser, "errors").is_displayed()
            # What the person typed is still there.
            assert browser.find_element("id", "name").get_attribute("value") == "Bad Input"

        landed = [parse_envelope(record.value) for record in bus.read([INCOMING_LEADS], idle_timeout_s=3.0)]
        mine = [envelope for envelope in landed if envelope.lead_id == lead_id]
        assert len(mine) == 1
        assert mine[0].lead.email == "rita@acme-anvils.example" and mine[0].produced_by == "web_form"
        assert mine[0].lead.company_website == "https://acme-anvils.example"
        assert not [envelope for envelope in landed if envelope.lead.name == "Bad Input"]
    finally:
        bus.close()
