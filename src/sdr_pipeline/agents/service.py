"""Run the agents service for real: Kafka publisher, the configured LLM, uvicorn.

`sdr-pipeline agents serve` runs it in the foreground; `process_spec(settings)` describes it
as a supervised background process for `infra up` and test fixtures.
"""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from sdr_pipeline.agents.app import create_app
from sdr_pipeline.infra.process import ProcessSpec, python_service
from sdr_pipeline.settings import Settings

__all__ = ["build_app", "process_spec", "serve"]

logger = logging.getLogger(__name__)


def build_app(settings: Settings) -> FastAPI:
    """The app wired to the real bus and the configured model endpoint."""
    from sdr_pipeline.agents.send_email import opt_out_consumer
    from sdr_pipeline.infra.bus import KafkaBus
    from sdr_pipeline.llm import make_client

    llm_settings = settings.model_copy(update={"llm_timeout_s": settings.agents_llm_timeout_s})
    return create_app(settings, llm=make_client(llm_settings, use_cache=False),
                      publisher=KafkaBus(settings.bootstrap_servers, client_id="sdr-agents"), send_scheduled=True,
                      opt_out_consumer=lambda: opt_out_consumer(settings))


def serve(settings: Settings) -> None:
    """Serve every registry agent on agents_host:agents_port until interrupted."""
    logger.info("agents service on http://%s:%d", settings.agents_host, settings.agents_port)
    uvicorn.run(build_app(settings), host=settings.agents_host, port=settings.agents_port,
                log_level="info", access_log=False)


def process_spec(settings: Settings) -> ProcessSpec:
    """The agents service as a supervised process (same settings, passed as SDR_* variables)."""
    return python_service("agents", "sdr_pipeline.agents.service", settings, host=settings.agents_host,
                          port=settings.agents_port, port_setting="SDR_AGENTS_PORT")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(Settings())
