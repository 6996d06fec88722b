"""`sdr-pipeline lab`: JupyterLab from the venv, offline, on loopback; a real Chromium runs a cell in it.

The browser test starts the real JupyterLab process through the command (as a user does), opens a
notebook in headless Chromium, runs its cell in the project's kernel and reads the output: the
kernel must be this venv's Python and must see the stack's settings. `infra down lab` then stops it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from sdr_pipeline.cli.main import app
from sdr_pipeline.infra import process
from sdr_pipeline.infra.lab import lab_token, lab_url, process_spec
from sdr_pipeline.settings import Settings
from tests.conftest import free_port
from tests.intake.conftest import browser  # noqa: F401 - the shared headless Chromium fixture

runner = CliRunner()


def test_help_says_where_it_listens_and_how_to_stop() -> None:
    result = runner.invoke(app, ["lab", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for words in ("127.0.0.1", "SDR_LAB_PORT", "token", "MLFLOW_TRACKING_URI", "infra down lab", "--stack"):
        assert words in result.output


def test_the_spec_is_offline_on_loopback_with_the_stack_settings(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", lab_port=18_889, mlflow_port=5_123, lab_root_dir=tmp_path)
    spec = process_spec(settings)
    assert spec.argv[:3] == [sys.executable, "-m", "jupyterlab"]
    for arg in ("--no-browser", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--ServerApp.ip=127.0.0.1",
                "--ServerApp.port=18889", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={tmp_path.resolve()}"):
        assert arg in spec.argv
    assert spec.env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5123" and spec.env["SDR_MLFLOW_PORT"] == "5123"
    # Jupyter's own folders are the stack's, so a user's ~/.jupyter cannot turn the network back on
    assert all(spec.env[name].startswith(str((tmp_path / "state").resolve()))
               for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"))
    token = spec.env["JUPYTER_TOKEN"]
    assert len(token) >= 32 and token not in " ".join(spec.argv), "the token stays off the command line"
    assert lab_token(settings) == token, "made once, then the same for every start"
    assert (tmp_path / "state" / "secrets" / "lab.key").stat().st_mode & 0o077 == 0
    assert lab_url(settings) == f"http://127.0.0.1:18889/lab?token={token}"


def _check_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(
        "import os, sys\n"
        "from sdr_pipeline.settings import Settings\n"
        "print('kernel', sys.prefix)\n"
        "print('tracking', Settings().tracking_uri, os.environ['MLFLOW_TRACKING_URI'])")]
    path = folder / "check.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.browser
@pytest.mark.mlflow
def test_lab_runs_a_cell_in_a_real_browser(browser, mlflow_server: Settings, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as when
    from selenium.webdriver.support.ui import WebDriverWait

    root = tmp_path / "root"
    root.mkdir()
    _check_notebook(root)
    settings = Settings(state_dir=tmp_path / "state", lab_port=free_port(), lab_root_dir=root,
                        mlflow_port=mlflow_server.mlflow_port, mlflow_tracking_uri=mlflow_server.tracking_uri)
    env = settings.to_env()
    started = runner.invoke(app, ["lab"], env=env)
    try:
        assert started.exit_code == 0, started.output
        printed = re.search(r"JupyterLab: (http://127\.0\.0\.1:\d+/lab\?token=\S+)", started.output)
        assert printed and printed.group(1) == lab_url(settings), started.output
        assert f"MLflow UI:  {mlflow_server.tracking_uri}" in started.output

        browser.set_page_load_timeout(90)
        browser.get(lab_url(settings, "lab/tree/check.ipynb"))
        wait = WebDriverWait(browser, 120)
        # the kernel is up once the status bar says so (the toolbar's indicator turns idle a little earlier)
        wait.until(when.text_to_be_present_in_element((By.ID, "jp-main-statusbar"), "Python 3 (ipykernel) | Idle"))
        wait.until(when.element_to_be_clickable((By.CSS_SELECTOR, ".jp-Cell .cm-content"))).click()
        ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        output = wait.until(when.presence_of_element_located((By.CSS_SELECTOR, ".jp-OutputArea-output")))
        wait.until(lambda _: "tracking" in output.text)
        assert f"kernel {sys.prefix}" in output.text, "the kernel is this venv's Python: " + output.text
        assert f"tracking {mlflow_server.tracking_uri} {mlflow_server.tracking_uri}" in output.text, output.text
    finally:
        stopped = runner.invoke(app, ["infra", "down", "lab"], env=env)
    assert stopped.exit_code == 0 and "lab" in stopped.output, stopped.output
    assert process.read_pid(settings, "lab") is None and not process.port_open("127.0.0.1", settings.lab_port)
