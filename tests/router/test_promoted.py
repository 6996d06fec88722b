"""The job's start prompt: MLflow's `production` alias when it answers with a version we have, else the settings'."""

from __future__ import annotations

import httpx
import pytest

from sdr_pipeline.router import list_prompts, start_version


@pytest.fixture(scope="module")
def prompts(prompts_dir):
    return {(p.name, p.version): p for p in list_prompts("router", prompts_dir=prompts_dir)}


def _mlflow(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def _alias_answer(version: str, template_hash: str):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/2.0/mlflow/registered-models/alias"
        assert request.url.params["name"] == "router" and request.url.params["alias"] == "production"
        return httpx.Response(200, json={"model_version": {"name": "router", "version": "7", "tags": [
            {"key": "file_version", "value": version}, {"key": "template_hash", "value": template_hash}]}})
    return handler


def _start(prompts, handler, fallback="v6"):
    return start_version(prompts, "router", fallback, tracking_uri="http://mlflow.test", timeout_s=1.0,
                         client=_mlflow(handler))


def test_the_promoted_version_wins_when_its_file_is_here_unchanged(prompts):
    promoted = prompts[("router", "v2")]
    start = _start(prompts, _alias_answer("v2", promoted.hash))
    assert (start.version, start.source) == ("v2", "mlflow")
    assert "production" in start.reason


def test_a_tracking_server_that_does_not_answer_falls_back_to_the_settings(prompts):
    def down(request):
        raise httpx.ConnectError("connection refused", request=request)

    start = _start(prompts, down)
    assert (start.version, start.source) == ("v6", "settings")
    assert "did not answer" in start.reason and "sdr-pipeline infra up" in start.reason


def test_no_production_alias_falls_back_and_says_how_to_promote(prompts):
    start = _start(prompts, lambda request: httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST"}))
    assert (start.version, start.source) == ("v6", "settings")
    assert "prompts promote" in start.reason


def test_a_server_error_falls_back(prompts):
    start = _start(prompts, lambda request: httpx.Response(500, text="database is locked"))
    assert start.source == "settings" and "did not answer" in start.reason


@pytest.mark.parametrize(("version", "why"), [("v99", "not among the prompt files"), ("v2", "other text")])
def test_a_promoted_version_we_cannot_run_as_promoted_falls_back(prompts, version, why):
    start = _start(prompts, _alias_answer(version, "0" * 64))
    assert (start.version, start.source) == ("v6", "settings")
    assert why in start.reason
