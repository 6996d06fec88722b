"""Which processes make up the local stack; the CLI is the one layer that may know them all."""

from __future__ import annotations

from sdr_pipeline.agents import service as agents_service
from sdr_pipeline.infra import flink_cluster, lab
from sdr_pipeline.infra.stack import INFRA_PARTS, Part
from sdr_pipeline.intake import service as intake_service
from sdr_pipeline.llm import server as llm_server
from sdr_pipeline.orchestrator import job
from sdr_pipeline.settings import Settings


def _before_router(settings: Settings) -> None:
    """Forget the last run's ready file; on the session cluster, first stop (with a savepoint, which this start
    resumes from) a routing job whose client died: it would otherwise run twice."""
    job.clear_ready(settings)
    flink_cluster.stop_routing_jobs(settings)


LLM = Part("llama-server", llm_server.process_spec)
INFRA = (*INFRA_PARTS, LLM)
"""What `infra up` starts: Kafka, MLflow, SMTP, the Flink session cluster (SDR_FLINK_MODE=cluster) and the
local model."""
SERVICES = (
    Part("agents", agents_service.process_spec),
    Part("intake", intake_service.process_spec),
    Part("router", job.process_spec, before_start=_before_router, before_stop=flink_cluster.stop_routing_jobs),
)
"""What `demo` starts on top: the agents, the intake service and the routing job."""
LAB = (Part(lab.NAME, lab.process_spec),)
"""What `sdr-pipeline lab` adds: JupyterLab; last, so `infra down` stops it before what its kernels use."""
ALL = (*INFRA, *SERVICES, *LAB)
