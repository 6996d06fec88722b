"""The local MLflow tracking server: SQLite backend and an artifact folder in the state directory."""

from __future__ import annotations

import sys
from pathlib import Path

from sdr_pipeline.infra.process import ProcessSpec, http_ok
from sdr_pipeline.settings import Settings

__all__ = ["mlflow_spec"]


def mlflow_spec(settings: Settings) -> ProcessSpec:
    folder = (settings.state_dir / "mlflow").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    url = f"http://{settings.mlflow_host}:{settings.mlflow_port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    argv = [
        str(mlflow), "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--serve-artifacts",
        "--host", settings.mlflow_host, "--port", str(settings.mlflow_port),
        "--workers", "1",
    ]
    return ProcessSpec(
        name="mlflow", argv=argv, host=settings.mlflow_host, port=settings.mlflow_port,
        port_setting="SDR_MLFLOW_PORT", health=lambda: http_ok(f"{url}/health", timeout_s=2.0), start_timeout_s=300.0,
        # The server's background job runner (huey workers for GenAI jobs) is unused here and costs
        # several processes and ~1 GB on a 2-core machine.
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
