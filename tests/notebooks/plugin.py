"""The stack `pytest --nbmake` gives the notebooks, through the same SDR_* settings `sdr-pipeline lab` passes.

nbmake runs each notebook in notebooks/ and evals/ as one test item, in a kernel that inherits this
process's environment. A notebook finds its services in settings, as it does in JupyterLab; here the
first notebook item starts a scratch stack for the session and each notebook item runs with that
stack's settings exported (restored afterwards, so no other test sees them):

- a real Kafka broker on free ports, holding a few lead journeys (`sample_log` from the dataset) on
  `routing_decisions` and `workflow_events`, which 03_lead_journeys reads back;
- a real MLflow server (SQLite) holding two evaluation runs, which evals/compare reads;
- the stand-in model (`sdr_pipeline.drills.standin_model`, an OpenAI-compatible endpoint answering in
  milliseconds) in place of the local model: the notebooks test the lab's plumbing, not the model's
  answers, and the whole tier must stay within a few minutes on 2 cores.

Registered by the repository's root conftest.py, so a bare `pytest --nbmake notebooks` gets it too.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sdr_pipeline.settings import Settings

if TYPE_CHECKING:
    from sdr_pipeline.infra.process import ProcessSpec

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASET = REPO_ROOT / "datasets" / "routing_v1.jsonl"
STANDIN = "standin-model"
SEEDED_RUNS = (("v6", "contract"), ("v6", "llm"))
"""Prompt version and policy of the evaluation runs the MLflow server starts with."""
SEEDED_LEADS = 6
"""Lead journeys put on the broker's topics."""
_STACK_KEY = pytest.StashKey["NotebookStack"]()
_ENV_KEY = pytest.StashKey[pytest.MonkeyPatch]()


def _is_notebook(item: pytest.Item) -> bool:
    return bool(getattr(item, "nbmake", False))


class NotebookStack:
    """Kafka, MLflow and the stand-in model on free ports in a throwaway folder; `settings` points at them."""

    def __init__(self) -> None:
        from tests.conftest import free_port

        self.folder = Path(tempfile.mkdtemp(prefix="sdr-notebooks-"))
        model_port = free_port()
        self.settings = Settings(
            state_dir=self.folder / "state", kafka_bootstrap=None, kafka_port=free_port(),
            kafka_controller_port=free_port(), mlflow_port=free_port(), mlflow_tracking_uri=None,
            llm_provider="openai", llm_base_url=f"http://127.0.0.1:{model_port}/v1", llm_model="standin",
            llm_port=model_port, llm_cache=False, prompts_dir=REPO_ROOT / "prompts",
            router_example_pool=tuple(path if path.is_absolute() else REPO_ROOT / path
                                      for path in Settings.model_fields["router_example_pool"].default),
        )
        self._stack = contextlib.ExitStack()
        self.error: BaseException | None = None
        """Why the stack did not start: every notebook item then fails with it, none runs on half a stack."""

    def start(self) -> None:
        """Start and seed the parts side by side: start-up dominates (MLflow alone takes ~15-35 s on 2 cores)."""
        from sdr_pipeline.infra import process, stack
        from sdr_pipeline.infra.stack import INFRA_PARTS

        started = time.monotonic()
        settings = self.settings
        self._stack.callback(process.stop, STANDIN, settings)
        self._stack.callback(stack.down, settings, INFRA_PARTS, ["kafka", "mlflow"])

        def kafka() -> None:
            stack.up(settings, INFRA_PARTS, ["kafka"])
            _seed_journeys(settings)
            _seed_decided_messages(settings)

        def model() -> None:
            process.start(_standin_spec(settings), settings)
            import sdr_pipeline.evals.experiment  # noqa: F401 - the seeding's heavy imports, while MLflow starts
            import sdr_pipeline.evals.tracking  # noqa: F401

        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="notebook-stack") as pool:
            kafka_ready = pool.submit(kafka)
            model_ready = pool.submit(model)
            stack.up(settings, INFRA_PARTS, ["mlflow"])
            model_ready.result()
            _seed_evaluations(settings)
            kafka_ready.result()
        logger.info("notebook stack up and seeded in %.1f s", time.monotonic() - started)

    def env(self) -> dict[str, str]:
        """What a notebook's kernel runs with: the stack's settings, and MLflow's own variable for mlflow itself."""
        return {**self.settings.to_env(), "MLFLOW_TRACKING_URI": self.settings.tracking_uri}

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _standin_spec(settings: Settings) -> ProcessSpec:
    from sdr_pipeline.infra.process import ProcessSpec, http_ok

    port = settings.llm_port
    return ProcessSpec(
        name=STANDIN, argv=[sys.executable, "-m", "uvicorn", "sdr_pipeline.drills.standin_model:app", "--host",
                            "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        host="127.0.0.1", port=port, port_setting="(notebook stand-in model)",
        health=lambda: http_ok(f"http://127.0.0.1:{port}/health"), start_timeout_s=90.0,
    )


def _seed_journeys(settings: Settings) -> None:
    from sdr_pipeline.contracts.topics import ROUTING_DECISIONS, WORKFLOW_EVENTS
    from sdr_pipeline.evals.datasets import load_dataset
    from sdr_pipeline.evals.journeys import sample_log
    from sdr_pipeline.infra.bus import KafkaBus

    log = sample_log(load_dataset(DATASET), leads=SEEDED_LEADS, seed=7, source=DATASET.name)
    bus = KafkaBus(settings.bootstrap_servers, client_id="notebook-seed")
    try:
        for decision in log.decisions:
            bus.publish(ROUTING_DECISIONS, decision)
        for event in log.events:
            bus.publish(WORKFLOW_EVENTS, event)
    finally:
        bus.close()


HARVESTABLE = 8
"""Messages put on agent_messages with a decision each (half of them unsure), for 04_label_queue to harvest."""


def _seed_decided_messages(settings: Settings) -> None:
    from sdr_pipeline.contracts import utc_now
    from sdr_pipeline.contracts.decision import RoutingDecision
    from sdr_pipeline.contracts.topics import AGENT_MESSAGES, ROUTING_DECISIONS
    from sdr_pipeline.evals.datasets import load_dataset
    from sdr_pipeline.infra.bus import KafkaBus

    bus = KafkaBus(settings.bootstrap_servers, client_id="notebook-seed-harvest")
    try:
        for number, example in enumerate(load_dataset(DATASET, split="test")[:HARVESTABLE]):
            message = example.message
            bus.publish(AGENT_MESSAGES, message, key=message.lead_id)
            bus.publish(ROUTING_DECISIONS, RoutingDecision(
                message_id=message.message_id, lead_id=message.lead_id, hop=message.hop, agent=example.expected_agent,
                confidence=0.45 if number % 2 else 0.93, reason="seeded for the labelling notebook", policy="cascade",
                prompt_name="router", prompt_version="v6", prompt_hash="", candidates=[example.expected_agent],
                llm_called=bool(number % 2), latency_s=0.1, decided_by="model" if number % 2 else "classifier",
                decided_at=utc_now()), key=message.lead_id)
    finally:
        bus.close()


def _seed_evaluations(settings: Settings) -> None:
    from sdr_pipeline.evals.experiment import EvalSpec, run_spec
    from sdr_pipeline.evals.tracking import log_eval_run

    for version, policy in SEEDED_RUNS:
        run = run_spec(EvalSpec(dataset=DATASET, split="test", limit=12, version=version, policy=policy),
                       settings, use_cache=False)
        log_eval_run(run, tracking_uri=settings.tracking_uri, sweep="notebook-seed")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_notebook(item):
            item.add_marker(pytest.mark.notebooks)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _is_notebook(item):
        return
    stack = item.config.stash.get(_STACK_KEY, None)
    if stack is None:
        stack = item.config.stash[_STACK_KEY] = NotebookStack()
        try:
            stack.start()
        except Exception as error:  # noqa: BLE001 - reported on every notebook item below
            stack.error = error
    if stack.error is not None:
        pytest.fail(f"the notebooks' scratch stack did not start: {stack.error}", pytrace=False)
    patch = pytest.MonkeyPatch()
    for name, value in stack.env().items():
        patch.setenv(name, value)
    item.stash[_ENV_KEY] = patch


def pytest_runtest_teardown(item: pytest.Item) -> None:
    patch = item.stash.get(_ENV_KEY, None)
    if patch is not None:
        patch.undo()


def pytest_sessionfinish(session: pytest.Session) -> None:
    stack = session.config.stash.get(_STACK_KEY, None)
    if stack is not None:
        stack.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One closing line with the notebooks nbmake executed, so a CI log shows the tier ran (and how it went)."""
    outcomes: dict[str, int] = {}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "nodeid", "").split("::")[0].endswith(".ipynb") and report.when in ("call", "setup"):
                if outcome == "passed" and report.when != "call":
                    continue
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        counts = ", ".join(f"{count} {outcome}" for outcome, count in outcomes.items())
        terminalreporter.write_line(f"notebooks executed by nbmake: {sum(outcomes.values())} ({counts})")
