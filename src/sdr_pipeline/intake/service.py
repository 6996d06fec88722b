"""Run the intake service for real: the web app on the Kafka bus, plus the supervised bridge in its own thread.

`sdr-pipeline intake serve` runs it in the foreground; `process_spec(settings)` describes it
as a supervised background process for `infra up` and test fixtures.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from sdr_pipeline.contracts import INCOMING_LEADS
from sdr_pipeline.infra.process import ProcessSpec, python_service
from sdr_pipeline.intake.app import create_app
from sdr_pipeline.intake.bridge import BRIDGE_GROUP, Bridge, BridgeMonitor
from sdr_pipeline.intake.leads import LeadStore
from sdr_pipeline.settings import Settings

__all__ = ["build_app", "process_spec", "serve"]

logger = logging.getLogger(__name__)


def build_app(settings: Settings, *, bridge: bool = True, group: str = BRIDGE_GROUP) -> FastAPI:
    """The intake app on the real bus; with `bridge`, it also moves incoming_leads to agent_messages
    (as consumer group `group`) and its /health reports the bridge."""
    from sdr_pipeline.infra.bus import GroupConsumer, KafkaBus

    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-intake")
    leads = LeadStore(settings.state_dir / "intake" / "leads.sqlite")
    monitor = BridgeMonitor(stale_after_s=settings.intake_bridge_stale_s) if bridge else None
    app = create_app(settings, publisher=bus, leads=leads, bridge=monitor)
    if monitor is not None:
        stop = threading.Event()
        supervised = Bridge(lambda: GroupConsumer(settings.bootstrap_servers, [INCOMING_LEADS], group=group,
                                                  client_id="sdr-intake-bridge"),
                            bus, settings, leads=leads, monitor=monitor)

        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            thread = supervised.start(stop)
            try:
                yield
            finally:
                stop.set()
                thread.join(timeout=settings.intake_bridge_poll_s + 15)

        app.router.lifespan_context = lifespan
    return app


def serve(settings: Settings, *, bridge: bool = True) -> None:
    """Serve the form and webhooks on intake_host:intake_port until interrupted."""
    logger.info("intake service on http://%s:%d", settings.intake_host, settings.intake_port)
    uvicorn.run(build_app(settings, bridge=bridge), host=settings.intake_host, port=settings.intake_port,
                log_level="info", access_log=False)


def process_spec(settings: Settings) -> ProcessSpec:
    """The intake service (with its bridge) as a supervised process."""
    return python_service("intake", "sdr_pipeline.intake.service", settings, host=settings.intake_host,
                          port=settings.intake_port, port_setting="SDR_INTAKE_PORT")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(Settings())
