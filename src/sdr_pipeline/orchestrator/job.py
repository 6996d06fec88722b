"""The routing job: a thin PyFlink shell around `steps.py`.

    agent_messages ─► Gate ◄── router_control (broadcast: live prompt version)
                       │ RouteTask (or a reviewer's verdict)
                       ▼
                  Dedupe (keyed by lead_id: a message_id seen before is a `duplicate` event)
                       │ first copies
                       ▼
                  RouteStep (async: the LLM router)
                       │ decision
                       ▼
                  Ledger (keyed by lead_id: tokens, cost, loops per chain)
                       │ approved
                       ▼
                  Dispatcher (async: POST to the agent, retried) ──► redeliveries (an agent or model down)
                                                                       │
    Router / Dispatcher ◄── Redeliver (keyed by lead_id: held until due) ◄┘

Every operator emits (topic, key, value) tuples; the ones addressed to a real topic go
to one Kafka sink (routing_decisions, dead_letters, workflow_events, needs_review, redeliveries),
keyed by lead; at-least-once by default, transactional with SDR_JOB_SINK_GUARANTEE=exactly-once. A task
that failed for a passing reason waits on `redeliveries` (a timer per lead, checkpointed with the state)
for minutes, not seconds, before it is dead-lettered. State lives in RocksDB
with incremental checkpoints, retained in the state folder; a restart resumes from the newest
one, and the Kafka source commits its offsets with each checkpoint, so a crash loses no message.
Every operator has a fixed uid, and a resume that would drop state no operator claims fails
instead (SDR_JOB_ALLOW_UNCLAIMED_STATE drops it on purpose); keyed state expires (dedupe and
ledger TTLs). The start prompt is MLflow's `production` alias when MLflow answers. Agents are
idempotent on message_id, so a replayed dispatch sends no e-mail twice.

The sources read values null-safe (a tombstone reaches the gate as None and is dead-lettered),
and every step dead-letters what it cannot handle, so no record fails the job; a failure of the
job itself (a lost broker, a worker crash) is restarted with an exponential delay and no cap.

Run locally with `sdr-pipeline orchestrator run`, or submit this file to a cluster with
`flink run -py src/sdr_pipeline/orchestrator/job.py`; with SDR_FLINK_MODE=cluster the `router` part does the
latter, attached, against the session cluster `infra up` started (infra/flink_cluster.py). Stopped by
`infra down`, the job leaves a savepoint, and the next start resumes from whichever is newer: that savepoint
or the newest retained checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from sdr_pipeline.contracts.raw import RecordBounds
from sdr_pipeline.contracts.topics import (
    AGENT_MESSAGES,
    DEAD_LETTERS,
    NEEDS_REVIEW,
    REDELIVERIES,
    ROUTER_CONTROL,
    ROUTING_DECISIONS,
    WORKFLOW_EVENTS,
)
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra import flink_cluster
from sdr_pipeline.infra.process import ProcessSpec, read_pid
from sdr_pipeline.infra.secrets import shared_secret
from sdr_pipeline.orchestrator.flink_env import make_env
from sdr_pipeline.orchestrator.steps import (
    DECIDED,
    DISPATCH,
    HELD,
    ROUTE,
    Dedupe,
    Dispatcher,
    Gate,
    Ledger,
    Limits,
    Redeliver,
    RouteStep,
    redelivery_backoff,
)
from sdr_pipeline.registry import load_registry
from sdr_pipeline.router import StartVersion, list_prompts, load_prompt, start_version
from sdr_pipeline.settings import Settings

__all__ = ["build_job", "checkpoint_dir", "flink_log_env", "job_config", "latest_checkpoint", "main", "process_spec",
           "ready_file", "report_status", "resolve_start_version", "resume_point"]

logger = logging.getLogger(__name__)

_SINK_TOPICS = (ROUTING_DECISIONS, DEAD_LETTERS, WORKFLOW_EVENTS, NEEDS_REVIEW, REDELIVERIES)


def checkpoint_dir(settings: Settings) -> Path:
    return (settings.state_dir / "flink" / "checkpoints").resolve()


def ready_file(settings: Settings) -> Path:
    """The job's status, rewritten every few seconds while it runs; the supervisor's health check reads it."""
    return settings.run_dir / "router.ready"


_STATUS_EVERY_S = 5.0
"""How often the running job writes its status to the ready file."""
_STATUS_STALE_S = 30.0
"""A status older than this means the process stopped reporting: unhealthy."""


def latest_checkpoint(settings: Settings) -> Path | None:
    """The newest completed checkpoint of an earlier run, if any."""
    completed = [meta.parent for meta in checkpoint_dir(settings).glob("*/chk-*/_metadata")]
    return max(completed, key=lambda path: path.stat().st_mtime) if completed else None


def _flink_functions():
    """The Flink operator classes, defined only where pyflink is importable."""
    from pyflink.common import Duration, Time, Types
    from pyflink.datastream.functions import AsyncFunction, BroadcastProcessFunction, KeyedProcessFunction
    from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor

    prompt_state = MapStateDescriptor("live_prompt_version", Types.STRING(), Types.STRING())

    def ttl(seconds: float) -> StateTtlConfig:
        """Each entry forgotten `seconds` after its last write, never returned once expired, and removed for
        good by RocksDB's compaction (the incremental checkpoints of the rocksdb backend never do a full
        scan) or, on the hashmap backend, left out of each full snapshot.

        Built in the Python worker (open()), which on a session cluster has no JVM gateway: PyFlink's default
        periodic compaction time is a Java Duration made through the gateway, and it is never sent to the
        operator anyway (Flink keeps its own 30 days), so a placeholder stands in for it."""
        return (StateTtlConfig.new_builder(Time.seconds(max(1, int(seconds))))
                .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
                .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                .cleanup_in_rocksdb_compact_filter(1000, periodic_compaction_time=Duration(None))
                .cleanup_full_snapshot().build())

    class GateFunction(BroadcastProcessFunction):
        def __init__(self, gate: Gate) -> None:
            self.gate = gate

        def process_element(self, value, ctx):
            live = ctx.get_broadcast_state(prompt_state).get(self.gate.prompt_name)
            for output in self.gate.on_message(value, live):
                yield output.as_tuple()

        def process_broadcast_element(self, value, ctx):
            control, outputs = self.gate.on_control(value)
            if control is not None:
                ctx.get_broadcast_state(prompt_state).put(control.prompt, control.version)
            for output in outputs:
                yield output.as_tuple()

    class RouteFunction(AsyncFunction):
        def __init__(self, step: RouteStep, settings: Settings) -> None:
            self.step = step
            self.settings = settings
            self._llm = None

        def open(self, runtime_context):
            # the example pool and the cascade's classifier are learnt here, in the worker, rather
            # than shipped inside the job graph (tens of MB once fitted)
            self.step = self.step.with_knowledge(self.settings)

        async def async_invoke(self, value):
            if self._llm is None:
                from sdr_pipeline.llm import make_client

                self._llm = make_client(self.settings, use_cache=False)
            return [output.as_tuple() for output in await self.step.run(value[2], self._llm)]

        def timeout(self, value):
            from sdr_pipeline.orchestrator.steps import timeout_dead_letter

            return [timeout_dead_letter(value[2], stage="routing", bounds=self.step.bounds).as_tuple()]

    class DedupeFunction(KeyedProcessFunction):
        def __init__(self, dedupe: Dedupe, ttl_s: float) -> None:
            self.dedupe = dedupe
            self.ttl_s = ttl_s
            self.seen = None

        def open(self, runtime_context):
            # one entry per message, each forgotten ttl_s after it was first seen, so the state stays the
            # size of the redelivery window
            descriptor = MapStateDescriptor("seen_messages", Types.STRING(), Types.STRING())
            descriptor.enable_time_to_live(ttl(self.ttl_s))
            self.seen = runtime_context.get_map_state(descriptor)

        def process_element(self, value, ctx):
            for output in self.dedupe.apply(value, self.seen):
                yield output.as_tuple()

    class LedgerFunction(KeyedProcessFunction):
        def __init__(self, ledger: Ledger, ttl_s: float) -> None:
            self.ledger = ledger
            self.ttl_s = ttl_s
            self.state = None

        def open(self, runtime_context):
            # a lead's ledger lives ttl_s past its last decision: every lead ever seen would otherwise stay
            # in state for good (a lead back after that starts with a fresh budget and no stop)
            descriptor = ValueStateDescriptor("lead_ledger", Types.STRING())
            descriptor.enable_time_to_live(ttl(self.ttl_s))
            self.state = runtime_context.get_state(descriptor)

        def process_element(self, value, ctx):
            before = self.state.value()
            after, outputs = self.ledger.step(before, value[2])
            if after is not None and after != before:
                self.state.update(after)
            for output in outputs:
                yield output.as_tuple()

    class DispatchFunction(AsyncFunction):
        def __init__(self, dispatcher: Dispatcher) -> None:
            self.dispatcher = dispatcher
            self._client = None

        async def async_invoke(self, value):
            if self._client is None:
                import httpx

                self._client = httpx.AsyncClient(timeout=30.0)
            return [output.as_tuple() for output in await self.dispatcher.run(value[2], self._client)]

        def timeout(self, value):
            from sdr_pipeline.orchestrator.steps import timeout_dead_letter

            return [timeout_dead_letter(value[2], stage="dispatch", bounds=self.dispatcher.bounds).as_tuple()]

    class HoldFunction(KeyedProcessFunction):
        """Per lead: each task set aside waits in state (by message_id, so a second replay replaces the first)
        for a processing-time timer; timers are checkpointed with the state, so a restart keeps them."""

        def __init__(self) -> None:
            self.held = None

        def open(self, runtime_context):
            self.held = runtime_context.get_map_state(MapStateDescriptor("held_redeliveries", Types.STRING(),
                                                                         Types.STRING()))

        def process_element(self, value, ctx):
            message_id, due_ms = Redeliver.due_ms(value[2])
            self.held.put(message_id, value[2])
            ctx.timer_service().register_processing_time_timer(due_ms)

        def on_timer(self, timestamp, ctx):
            due, outputs = Redeliver.release(list(self.held.items()), timestamp)
            for message_id in due:
                self.held.remove(message_id)
            for output in outputs:
                yield output.as_tuple()

    return (prompt_state, GateFunction, DedupeFunction, RouteFunction, LedgerFunction, DispatchFunction,
            HoldFunction)


_NULL_SAFE_STRINGS = "org.apache.flink.kafka.shaded.org.apache.kafka.common.serialization.StringDeserializer"
"""Kafka's own StringDeserializer as shaded in flink-sql-connector-kafka: a null value stays None (Flink's
SimpleStringSchema throws a NullPointerException on a tombstone, which fails the job on every restart)."""


def _null_safe_values():
    """A record deserializer for the Kafka source that hands each value on as a string, a tombstone as None.

    PyFlink's builder only offers `set_value_only_deserializer(DeserializationSchema)`, and every
    DeserializationSchema it ships either throws on a null or drops it unseen; the Java builder's
    `setDeserializer(KafkaRecordDeserializationSchema.valueOnly(<Kafka Deserializer>))` keeps the null,
    so the gate can dead-letter it with a reason.
    """
    from pyflink.java_gateway import get_gateway
    from pyflink.util.java_utils import load_java_class

    schema = get_gateway().jvm.org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema
    return schema.valueOnly(load_java_class(_NULL_SAFE_STRINGS))


def build_job(env, settings: Settings, *, group_id: str = "sdr-router", prompt_version: str | None = None) -> None:
    """Add the routing topology to `env`; it starts routing with `prompt_version` (default: the settings')
    until router_control (or the broadcast state of a checkpoint) names another."""
    from pyflink.common import Time, Types, WatermarkStrategy
    from pyflink.datastream import AsyncDataStream
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import (
        KafkaOffsetResetStrategy,
        KafkaOffsetsInitializer,
        KafkaSink,
        KafkaSource,
    )

    registry = load_registry()
    prompts = {(p.name, p.version): p for p in list_prompts(settings.router_prompt, prompts_dir=settings.prompts_dir)}
    start_prompt = load_prompt(settings.router_prompt, prompt_version or settings.router_prompt_version,
                               prompts_dir=settings.prompts_dir)
    limits = Limits(settings.max_hops, settings.budget_tokens_per_lead, settings.budget_usd_per_lead)
    bounds = RecordBounds.from_settings(settings)
    gate = Gate(prompts, settings.router_prompt, start_prompt.version, limits,
                review_secret=settings.review_secret.get_secret_value(), policy=settings.router_policy, bounds=bounds)
    route = RouteStep(prompts, registry, settings.router_policy, settings.router_answer_attempts, bounds=bounds)
    if route.needs_knowledge:  # learnt in each worker (RouteFunction.open); fail here if the files are missing
        missing = [str(path) for path in settings.router_example_pool if not Path(path).is_file()]
        if missing:
            raise UserError(f"the router's example pool is missing: {', '.join(missing)}",
                            fix="run from the checkout, or set SDR_ROUTER_EXAMPLE_POOL to dataset files with a dev split")
    secret = shared_secret(settings, "dispatch")
    redelivery = redelivery_backoff(settings)
    route = replace(route, redelivery=redelivery, secret=secret)
    dispatcher = Dispatcher(registry, settings.agents_url, bounds=bounds, secret=secret, redelivery=redelivery)
    redeliver = Redeliver(secret=secret, bounds=bounds)
    (prompt_state, GateFunction, DedupeFunction, RouteFunction, LedgerFunction, DispatchFunction,
     HoldFunction) = _flink_functions()
    row = Types.TUPLE([Types.STRING(), Types.STRING(), Types.STRING()])

    def source(topic: str, group: str):
        builder = (KafkaSource.builder().set_bootstrap_servers(settings.bootstrap_servers).set_topics(topic)
                   .set_group_id(group)
                   .set_starting_offsets(KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST))
                   .set_property("commit.offsets.on.checkpoint", "true")
                   .set_property("isolation.level", "read_committed"))  # redeliveries come from our own sink
        builder._j_builder.setDeserializer(_null_safe_values())  # see _null_safe_values: PyFlink has no setter
        return builder.build()

    # every operator carries a fixed uid (and name): a checkpoint's state is matched to operators by uid, so
    # renaming one, or adding an operator that shifts the generated ids, would otherwise orphan its state;
    # tests/orchestrator/test_job_config.py pins the list, so changing a uid is a decision, not an accident
    messages = (env.from_source(source(AGENT_MESSAGES, group_id), WatermarkStrategy.no_watermarks(), "agent_messages")
                .uid("source-agent-messages"))
    control = (env.from_source(source(ROUTER_CONTROL, f"{group_id}-control"), WatermarkStrategy.no_watermarks(),
                               "router_control").uid("source-router-control"))
    set_aside = (env.from_source(source(REDELIVERIES, f"{group_id}-redeliveries"), WatermarkStrategy.no_watermarks(),
                                 "redeliveries").uid("source-redeliveries"))
    gated = (messages.connect(control.broadcast(prompt_state))
             .process(GateFunction(gate), output_type=row).uid("gate").name("gate: validate, hop limit, prompt version"))
    # the dedupe takes what the gate sends on: tasks for the router, and reviewers' verdicts for the ledger
    deduped = (gated.filter(lambda r: r[0] in (ROUTE, DECIDED)).uid("gate-to-dedupe").name("gate to dedupe")
               .key_by(lambda r: r[1], key_type=Types.STRING())
               .process(DedupeFunction(Dedupe(bounds), settings.job_dedup_ttl_s), output_type=row)
               .uid("dedupe").name("dedupe: one of each message_id"))

    def take(raw):
        for output in redeliver.take(raw):
            yield output.as_tuple()

    taken = set_aside.flat_map(take, output_type=row).uid("redelivery-take").name("redeliveries: verify signature")
    released = (taken.filter(lambda r: r[0] == HELD).uid("take-to-hold").name("take to hold")
                .key_by(lambda r: r[1], key_type=Types.STRING())
                .process(HoldFunction(), output_type=row).uid("redelivery-hold").name("redeliveries: hold until due"))
    routed = AsyncDataStream.unordered_wait(
        deduped.filter(lambda r: r[0] == ROUTE).uid("dedupe-to-route").name("dedupe to route")
        .union(released.filter(lambda r: r[0] == ROUTE).uid("held-to-route").name("redeliveries to route")),
        RouteFunction(route, settings),
        Time.seconds(int(settings.llm_timeout_s * settings.router_answer_attempts * settings.llm_max_attempts) + 5),
        capacity=settings.dispatch_capacity, output_type=row).uid("route").name("route: LLM router")
    decided = (routed.filter(lambda r: r[0] == DECIDED).uid("route-to-ledger").name("route to ledger")
               .union(deduped.filter(lambda r: r[0] == DECIDED).uid("dedupe-to-ledger").name("verdicts to ledger")))
    ledgered = (decided.key_by(lambda r: r[1], key_type=Types.STRING())
                .process(LedgerFunction(Ledger(limits, bounds), settings.job_ledger_ttl_s), output_type=row)
                .uid("ledger").name("ledger: budgets, loops"))
    longest_agent = max((agent.timeout_s + 10) * agent.max_attempts for agent in registry.agents)
    dispatched = AsyncDataStream.unordered_wait(
        ledgered.filter(lambda r: r[0] == DISPATCH).uid("ledger-to-dispatch").name("ledger to dispatch")
        .union(released.filter(lambda r: r[0] == DISPATCH).uid("held-to-dispatch").name("redeliveries to dispatch")),
        DispatchFunction(dispatcher), Time.seconds(int(longest_agent)), capacity=settings.dispatch_capacity,
        output_type=row,
    ).uid("dispatch").name("dispatch: POST to agent")
    everything = gated.union(deduped, routed, ledgered, dispatched, taken)
    # one sink for every topic the job writes, each record keyed by its lead id (KeyedTopicRecords); with
    # SDR_JOB_SINK_GUARANTEE=exactly-once it writes in transactions a checkpoint commits (see the setting for
    # the price); without checkpoints (a quick test graph) nothing would ever commit: at-least-once then
    exactly_once = (settings.job_sink_guarantee == "exactly-once"
                    and env.get_checkpoint_config().is_checkpointing_enabled())
    builder = (KafkaSink.builder().set_bootstrap_servers(settings.bootstrap_servers)
               .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE if exactly_once else
                                       DeliveryGuarantee.AT_LEAST_ONCE)
               .set_transactional_id_prefix(f"{group_id}-out")
               .set_property("transaction.timeout.ms", str(_TRANSACTION_TIMEOUT_MS)))
    builder._j_builder.setRecordSerializer(_keyed_topic_records())  # see _keyed_topic_records
    (everything.filter(lambda r: r[0] in _SINK_TOPICS).uid("select-sink-records").name("records for their topics")
     .sink_to(builder.build()).uid("sink-topics").name("sink: " + ", ".join(_SINK_TOPICS)))


_TRANSACTION_TIMEOUT_MS = 10 * 60 * 1000
"""How long the broker keeps a sink transaction open before aborting it: far above a checkpoint and a restart,
and below the broker's transaction.max.timeout.ms (15 min by default, which Flink's own default of an hour
exceeds, so the sink could not start)."""


def _keyed_topic_records():
    """Our record serializer (infra/java/KeyedTopicRecords.java, on pipeline.jars): (topic, key, value) rows
    to keyed records. PyFlink's `set_record_serializer` reads fields only its own builder's schemas have, so
    the Java builder is given it directly."""
    from pyflink.util.java_utils import load_java_class

    return load_java_class("org.sdrpipeline.flink.KeyedTopicRecords").newInstance()


def resume_point(settings: Settings) -> Path | None:
    """Where a start resumes: the newer of the newest retained checkpoint and the newest savepoint (the one
    `infra down` takes on the session cluster)."""
    found = [path for path in (latest_checkpoint(settings), flink_cluster.latest_savepoint(settings)) if path]
    return max(found, key=lambda path: (path / "_metadata").stat().st_mtime) if found else None


def job_config(settings: Settings) -> dict[str, str]:
    """State backend, checkpointing, retention and restart settings; resumes from the newest retained checkpoint
    or savepoint, whichever is newer."""
    config = {
        # RocksDB (inside flink-dist, native library for linux64 included): state on disk rather than the heap,
        # and incremental checkpoints that upload only the files changed since the last one
        "state.backend.type": settings.job_state_backend,
        "execution.checkpointing.incremental": "true" if settings.job_state_backend == "rocksdb" else "false",
        "execution.checkpointing.dir": checkpoint_dir(settings).as_uri(),
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": "2",
        # a failure of the job itself (broker away, worker crash) is retried for as long as it takes, ever
        # more slowly; no record can cause one (the steps dead-letter them), so retrying is never futile
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": f"{settings.job_restart_initial_backoff_s:g} s",
        "restart-strategy.exponential-delay.max-backoff": f"{settings.job_restart_max_backoff_s:g} s",
        "restart-strategy.exponential-delay.backoff-multiplier": "2.0",
        "restart-strategy.exponential-delay.jitter-factor": "0.1",
        "restart-strategy.exponential-delay.reset-backoff-threshold": "10 min",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff": str(2**31 - 1),  # no cap
    }
    if settings.flink_mode == "cluster":  # where a savepoint goes unless its trigger names a folder
        config["execution.checkpointing.savepoint-dir"] = flink_cluster.savepoint_dir(settings).as_uri()
    resume = resume_point(settings)
    if resume is not None:
        config["execution.state-recovery.path"] = resume.as_uri()
        # off: state no operator claims (a uid renamed or removed) fails the resume instead of vanishing
        config["execution.state-recovery.ignore-unclaimed-state"] = "true" if settings.job_allow_unclaimed_state else "false"
    return config


_UNCLAIMED = "Cannot map checkpoint/savepoint state for operator"
"""What Flink says when a checkpoint holds state for an operator uid the submitted job does not have."""


def _unclaimed_state_error(error: BaseException, resume: str) -> UserError | None:
    """A UserError naming the fix when `error` is Flink refusing to drop a checkpoint's unclaimed state."""
    text = str(error)
    if _UNCLAIMED not in text:
        return None
    operator = text.split(_UNCLAIMED, 1)[1].split("to the new program", 1)[0].strip(" .")
    return UserError(f"the checkpoint {resume} holds state for operator {operator or '?'}, which this version of "
                     "the routing job does not have (an operator uid in orchestrator/job.py was renamed or removed)",
                     fix="put the uid back; or, if dropping that state is intended, start once with "
                         "SDR_JOB_ALLOW_UNCLAIMED_STATE=true; or start without any state: delete "
                         f"{Path(resume.removeprefix('file://')).parent}")


def flink_log_env(settings: Settings) -> dict[str, str]:
    """Environment for the PyFlink driver: Flink's own log under <state_dir>/logs, rotated by size.

    PyFlink's gateway reads these when it launches the JVM; without them Flink logs into the virtual
    environment (site-packages/pyflink/log/), overwritten at each start, where nobody looks.
    """
    logs = settings.logs_dir.resolve()
    config = (settings.state_dir / "flink" / "log4j.properties").resolve()
    return {"FLINK_LOG_DIR": str(logs), "LOG4J_PROPERTIES": str(config), "FLINK_IDENT_STRING": "router"}


_LOG4J = """# written by sdr_pipeline.orchestrator.job at each start: Flink's log, rotated by size
monitorInterval = 0
rootLogger.level = INFO
rootLogger.appenderRef.main.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = RollingFile
appender.main.append = true
appender.main.fileName = ${{sys:log.file}}
appender.main.filePattern = ${{sys:log.file}}.%i
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss,SSS}} %-5p %-60c %x - %m%n
appender.main.policies.type = Policies
appender.main.policies.size.type = SizeBasedTriggeringPolicy
appender.main.policies.size.size = {max_bytes}
appender.main.strategy.type = DefaultRolloverStrategy
appender.main.strategy.max = {backups}
logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
"""


def _write_log_config(settings: Settings) -> Path:
    path = Path(flink_log_env(settings)["LOG4J_PROPERTIES"])
    path.parent.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(_LOG4J.format(max_bytes=settings.log_max_bytes, backups=settings.log_backups))
    return path


def resolve_start_version(settings: Settings) -> StartVersion:
    """The prompt version to start with: MLflow's `production` alias if it answers, else the settings'."""
    prompts = {(p.name, p.version): p for p in list_prompts(settings.router_prompt, prompts_dir=settings.prompts_dir)}
    return start_version(prompts, settings.router_prompt, settings.router_prompt_version,
                         tracking_uri=settings.tracking_uri, timeout_s=settings.job_prompt_lookup_timeout_s)


def run(settings: Settings) -> None:
    """Submit the job and block until it ends: to a local mini-cluster, or, under `flink run`, to the cluster
    that command names."""
    _write_log_config(settings)
    for key, value in flink_log_env(settings).items():
        os.environ.setdefault(key, value)  # read by PyFlink's gateway, which make_env launches next
    config = job_config(settings)
    resume = config.get("execution.state-recovery.path")
    if resume:
        logger.info("resuming from %s %s (%s state backend)", "savepoint" if "/savepoint-" in resume else "checkpoint",
                    resume, settings.job_state_backend)
    else:
        logger.info("starting without a checkpoint (%s state backend, checkpoints in %s)", settings.job_state_backend,
                    checkpoint_dir(settings))
    # asked with or without a checkpoint: the start version is not kept in state, and a promotion seen on
    # router_control (kept in the broadcast state) still wins over it
    start = resolve_start_version(settings)
    logger.info("prompt %s %s from %s: %s", settings.router_prompt, start.version, start.source, start.reason)
    env = make_env(settings, checkpointing=True, extra=config)
    build_job(env, settings, prompt_version=start.version)
    try:
        client = env.execute_async("sdr-pipeline router")
        logger.info("routing job %s submitted (policy %s, prompt %s/%s, agents at %s)", client.get_job_id(),
                    settings.router_policy, settings.router_prompt, start.version, settings.agents_url)
        report_status(client, ready_file(settings))
    except Exception as error:  # noqa: BLE001 — the job's entry point: name the fix for a refused resume
        refused = _unclaimed_state_error(error, resume) if resume else None
        if refused is not None:
            raise refused from None
        raise


def report_status(client, ready: Path, *, every_s: float = _STATUS_EVERY_S) -> None:
    """Write the job's real status (RUNNING, RESTARTING, …) to `ready` until the job ends, then return its result.

    A ready file written once at submission said "healthy" through a crash loop; this one says what
    Flink says, and goes stale if the process stops reporting.
    """
    ready.parent.mkdir(parents=True, exist_ok=True)
    job_id, result, last = str(client.get_job_id()), client.get_job_execution_result(), None

    def write(status: str) -> None:
        draft = ready.with_suffix(".tmp")
        draft.write_text(json.dumps({"job_id": job_id, "status": status, "at": time.time()}))
        draft.replace(ready)  # atomic: the health check never reads half a report

    while not result.done():
        try:
            status = client.get_job_status().result().name
        except Exception as error:  # noqa: BLE001 — a job ending between the two calls; next loop sees it done
            status = f"UNKNOWN ({type(error).__name__})"
        if status != last:
            logger.info("routing job %s is %s", job_id, status)
            last = status
        write(status)
        time.sleep(every_s)
    write("ENDED")
    return result.result()


def _running(settings: Settings) -> bool:
    """Healthy while the process the pid file names reports, freshly, that Flink runs the job."""
    pid = read_pid(settings, "router")
    ready = ready_file(settings)
    pid_file = settings.run_dir / "router.pid"
    if pid is None or not ready.exists() or ready.stat().st_mtime < pid_file.stat().st_mtime:
        return False
    try:
        report = json.loads(ready.read_text())
    except (OSError, ValueError):
        return False  # being rewritten, or left by an older version: the next report decides
    return (isinstance(report, dict) and report.get("status") == "RUNNING"
            and time.time() - float(report.get("at", 0)) < _STATUS_STALE_S)


def clear_ready(settings: Settings) -> None:
    """Forget an earlier run's ready file before a start."""
    ready_file(settings).unlink(missing_ok=True)


def process_spec(settings: Settings) -> ProcessSpec:
    """The routing job as a supervised process with the same settings: on a local mini-cluster, or (cluster mode)
    the `flink run` client that submits it to the session cluster and stays attached, its driver reporting the
    job's status to the ready file."""
    if settings.flink_mode == "cluster":
        return _cluster_process_spec(settings)
    return ProcessSpec(
        name="router", argv=[sys.executable, "-m", "sdr_pipeline.orchestrator.job"],
        host="flink mini-cluster", port=None, port_setting=None, health=lambda: _running(settings),
        env={**settings.to_env(), **flink_log_env(settings)}, start_timeout_s=120.0, stop_timeout_s=30.0,
    )


def _tasks_running(settings: Settings) -> bool:
    """On the cluster: every task of the job the ready file names runs (not just the job)."""
    try:
        job_id = json.loads(ready_file(settings).read_text()).get("job_id")
    except (OSError, ValueError, AttributeError):
        return False
    return bool(job_id) and flink_cluster.tasks_running(settings, job_id)


def _cluster_process_spec(settings: Settings) -> ProcessSpec:
    flink = flink_cluster.flink_home() / "bin" / "flink"
    argv = ["bash", str(flink), "run", "--parallelism", str(settings.flink_parallelism),
            "-pyclientexec", sys.executable, "-pyexec", sys.executable, "-pym", "sdr_pipeline.orchestrator.job"]
    return ProcessSpec(
        name="router", argv=argv, host=f"flink cluster {settings.flink_host}:{settings.flink_port}", port=None,
        port_setting=None, health=lambda: _running(settings) and _tasks_running(settings),
        env={**settings.to_env(), **flink_cluster.cluster_env(settings, "router")}, start_timeout_s=180.0,
        stop_timeout_s=30.0,
    )


def main() -> None:
    """Entry point for `python -m sdr_pipeline.orchestrator.job` and `flink run -py`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    run(Settings())


if __name__ == "__main__":
    main()
