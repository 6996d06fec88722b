"""JupyterLab as a part of the local stack: the project's kernel and settings, loopback only, offline.

`sdr-pipeline lab` (and `infra up lab`) runs the venv's JupyterLab with the stack's settings as
SDR_* variables, plus MLflow's own MLFLOW_TRACKING_URI, so every kernel it starts (the venv's
`python3`, which imports `sdr_pipeline`) finds Kafka, MLflow and the model exactly as the CLI does.
It reaches nothing on the internet: no browser is opened, the news feed, the update check and the
extension manager's package index are off, and its config, data and runtime folders live under
<state_dir>/lab, so a setting in ~/.jupyter cannot turn them back on.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from pathlib import Path

from sdr_pipeline.infra.process import ProcessSpec, http_ok
from sdr_pipeline.settings import Settings

__all__ = ["NAME", "lab_token", "lab_url", "process_spec"]

logger = logging.getLogger(__name__)

NAME = "lab"

OFFLINE_ARGS = (
    "--no-browser",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
)
"""What keeps JupyterLab from calling out: no browser, no announcements feed, no update check, and an
extension manager that lists what is installed instead of searching a package index."""
_PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
"""Also off in the page: the announcements plugin, which would otherwise ask whether to fetch Jupyter news."""


def lab_token(settings: Settings) -> str:
    """The token JupyterLab asks for: settings.lab_token, else the stack's own, made once (mode 0600)."""
    configured = settings.lab_token.get_secret_value()
    return configured or _stack_token(settings.state_dir / "secrets" / "lab.key")


def _stack_token(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another start made it first: use that one
            pass
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(24) + "\n")
            logger.info("made a JupyterLab token in %s (set SDR_LAB_TOKEN to use your own)", path)
    return path.read_text(encoding="utf-8").strip()


def lab_url(settings: Settings, path: str = "lab") -> str:
    """The address to open, token included (whoever has it can run code here)."""
    return f"http://{settings.lab_host}:{settings.lab_port}/{path.lstrip('/')}?token={lab_token(settings)}"


def process_spec(settings: Settings) -> ProcessSpec:
    """`python -m jupyterlab` from this venv, on lab_host:lab_port, opening lab_root_dir."""
    folder = (settings.state_dir / "lab").resolve()
    root = settings.lab_root_dir.resolve()
    page_config = folder / "config" / "labconfig" / "page_config.json"
    page_config.parent.mkdir(parents=True, exist_ok=True)
    page_config.write_text(json.dumps(_PAGE_CONFIG, indent=2) + "\n", encoding="utf-8")
    argv = [
        sys.executable, "-m", "jupyterlab", *OFFLINE_ARGS,
        f"--ServerApp.ip={settings.lab_host}", f"--ServerApp.port={settings.lab_port}",
        "--ServerApp.port_retries=0",  # a busy port is an error, not a silent move to the next one
        *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),  # CI containers run as root
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={folder / 'workspaces'}", f"--LabApp.user_settings_dir={folder / 'settings'}",
    ]
    env = {
        **settings.to_env(),
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "JUPYTER_CONFIG_DIR": str(folder / "config"),
        "JUPYTER_DATA_DIR": str(folder / "data"),
        "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
        # the token through the environment, so it is not on the command line for `ps` to show
        "JUPYTER_TOKEN": lab_token(settings),
    }
    base = f"http://{settings.lab_host}:{settings.lab_port}"
    return ProcessSpec(
        name=NAME, argv=argv, host=settings.lab_host, port=settings.lab_port, port_setting="SDR_LAB_PORT",
        health=lambda: http_ok(f"{base}/api", timeout_s=2.0), env=env, cwd=root, start_timeout_s=90.0,
    )

