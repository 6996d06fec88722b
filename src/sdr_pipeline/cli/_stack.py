"""Which processes make up the local stack; the CLI is the one layer that may know them all."""

from __future__ import annotations

from sdr_pipeline.agents import service as agents_service
from sdr_pipeline.infra import lab
from sdr_pipeline.infra.stack import INFRA_PARTS, Part
from sdr_pipeline.intake import service as intake_service
from sdr_pipeline.llm import server as llm_server
from sdr_pipeline.orchestrator import job

LLM = Part("llama-server", llm_server.process_spec)
INFRA = (*INFRA_PARTS, LLM)
"""What `infra up` starts: Kafka, MLflow, SMTP and the local model."""
SERVICES = (
    Part("agents", agents_service.process_spec),
    Part("intake", intake_service.process_spec),
    Part("router", job.process_spec, before_start=job.clear_ready),
)
"""What `demo` starts on top: the agents, the intake service and the routing job."""
LAB = (Part(lab.NAME, lab.process_spec),)
"""What `sdr-pipeline lab` adds: JupyterLab; last, so `infra down` stops it before what its kernels use."""
ALL = (*INFRA, *SERVICES, *LAB)
