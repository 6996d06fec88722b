"""The routing job's configuration: state that survives a restart and an upgrade, logs where we look.

The last test builds the job graph in PyFlink's JVM (no job runs) to pin every operator's uid.
"""

from __future__ import annotations

import shutil

import pytest

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.orchestrator import job
from sdr_pipeline.settings import Settings
from tests.router.conftest import REPO_ROOT


@pytest.fixture
def settings(tmp_path):
    return Settings(_env_file=None, state_dir=tmp_path)


def _checkpoint(settings: Settings, number: int) -> None:
    folder = job.checkpoint_dir(settings) / "f00d" / f"chk-{number}"
    folder.mkdir(parents=True)
    (folder / "_metadata").write_bytes(b"x")


def test_rocksdb_with_incremental_checkpoints_by_default(settings):
    config = job.job_config(settings)
    assert config["state.backend.type"] == "rocksdb"
    assert config["execution.checkpointing.incremental"] == "true"
    assert "execution.state-recovery.path" not in config, "nothing to resume from on a first start"


def test_the_heap_backend_stays_a_setting(settings):
    config = job.job_config(settings.model_copy(update={"job_state_backend": "hashmap"}))
    assert (config["state.backend.type"], config["execution.checkpointing.incremental"]) == ("hashmap", "false")


def test_a_resume_refuses_to_drop_unclaimed_state_unless_told(settings):
    _checkpoint(settings, 7)
    config = job.job_config(settings)
    assert config["execution.state-recovery.path"].endswith("/f00d/chk-7")
    assert config["execution.state-recovery.ignore-unclaimed-state"] == "false"
    allowed = job.job_config(settings.model_copy(update={"job_allow_unclaimed_state": True}))
    assert allowed["execution.state-recovery.ignore-unclaimed-state"] == "true"


def test_a_refused_resume_names_the_operator_and_the_ways_out():
    flink = RuntimeError("java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint file:/s/chk-7. "
                         "Cannot map checkpoint/savepoint state for operator 2e0fd0a9a3b4 to the new program, because "
                         "the operator is not available in the new program.")
    error = job._unclaimed_state_error(flink, "file:///s/flink/checkpoints/f00d/chk-7")
    assert isinstance(error, UserError)
    text = str(error)
    assert "2e0fd0a9a3b4" in text and "SDR_JOB_ALLOW_UNCLAIMED_STATE=true" in text
    assert "/s/flink/checkpoints/f00d" in text
    assert job._unclaimed_state_error(RuntimeError("broker away"), "file:///s/chk-7") is None


def test_flinks_own_log_goes_under_the_state_folder_and_rotates(settings):
    env = job.flink_log_env(settings)
    assert env["FLINK_LOG_DIR"] == str(settings.logs_dir.resolve())
    assert "site-packages" not in env["LOG4J_PROPERTIES"]
    assert job.process_spec(settings).env["FLINK_LOG_DIR"] == env["FLINK_LOG_DIR"]
    written = job._write_log_config(settings.model_copy(update={"log_max_bytes": 123_456, "log_backups": 4}))
    text = written.read_text()
    assert "type = RollingFile" in text and "size.size = 123456" in text and "strategy.max = 4" in text
    assert "${sys:log.file}" in text, "the gateway names the file; the template keeps its placeholder"


PINNED_UIDS = {
    "source-agent-messages", "source-router-control", "source-redeliveries", "gate", "gate-to-dedupe", "dedupe",
    "dedupe-to-route", "held-to-route", "route", "route-to-ledger", "dedupe-to-ledger", "ledger",
    "ledger-to-dispatch", "held-to-dispatch", "dispatch", "redelivery-take", "take-to-hold", "redelivery-hold",
    "select-sink-records", "sink-topics", "Sink Committer: sink-topics",
}
"""The uids the job graph carries, after PyFlink chains Python operators into one under the first one's uid
(the router and the dispatcher each take two inputs, fresh tasks and redeliveries, so they are operators of
their own and keep their in-flight records under `route` and `dispatch`). A checkpoint's state is found by
these: changing one, or the chaining,
makes a resume fail until it is put back or SDR_JOB_ALLOW_UNCLAIMED_STATE drops that state on purpose."""


@pytest.mark.flink
def test_every_operator_has_its_fixed_uid(settings, tmp_path):
    from pyflink.datastream import StreamExecutionEnvironment  # noqa: F401 — skip early without pyflink

    from sdr_pipeline.orchestrator.flink_env import make_env

    prompts = tmp_path / "prompts" / "router"
    prompts.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "prompts" / "router" / "v2.yaml", prompts)
    settings = settings.model_copy(update={"prompts_dir": tmp_path / "prompts", "router_prompt_version": "v2",
                                           "router_policy": "llm"})
    env = make_env(settings)
    job.build_job(env, settings, prompt_version="v2")
    nodes = list(env._generate_stream_graph(clear_transformations=True).getStreamNodes().toArray())
    uids = [node.getTransformationUID() for node in nodes]
    # PyFlink's key_by adds a stateless key-extracting operator and offers no way to name it; with no state,
    # nothing of it is in a checkpoint to lose
    missing = [name for node in nodes if node.getTransformationUID() is None
               and (name := node.getOperatorName()) != "_stream_key_by_map_operator"]
    assert not missing, f"operators without a uid: {missing}"
    uids = [uid for uid in uids if uid is not None]
    assert len(uids) == len(set(uids))
    assert set(uids) == PINNED_UIDS
