"""The one typed settings object.

Built once at each entry point (CLI, the Flink job's `main`, an app factory) and
passed down; library code never reads the environment itself. Every field can be
overridden by an `SDR_<FIELD>` environment variable or a git-ignored `.env` file,
and docker-compose.yml uses the very same names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "default_cache_dir"]


def default_cache_dir() -> Path:
    """Downloads and builds shared by every checkout: outside the repo, kept between runs."""
    return Path.home() / ".cache" / "sdr-pipeline"


class Settings(BaseSettings):
    """Everything a deployment may want to change, with finite defaults."""

    model_config = SettingsConfigDict(env_prefix="SDR_", env_file=".env", extra="ignore", frozen=True)

    # --- where things live -------------------------------------------------------
    state_dir: Path = Path(".state")
    """Broker data, MLflow database, pid files and logs (git-ignored)."""
    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Maven jars, models and builds, shared across checkouts."""
    prompts_dir: Path = Path("prompts")
    """Versioned prompt files, one folder per prompt name (prompts/router/v1.yaml, ...)."""

    # --- Kafka ---------------------------------------------------------------------
    kafka_host: str = "127.0.0.1"
    """Interface the local broker binds to and clients connect to."""
    kafka_port: int = 9092
    """Client listener port of the local broker; with three brokers node n listens on kafka_port + 2(n-1)
    (9092, 9094, 9096 by default)."""
    kafka_controller_port: int = 9093
    """KRaft controller listener port of the local broker; node n uses kafka_controller_port + 2(n-1)
    (9093, 9095, 9097 by default), so the default client and controller ports interleave and never meet.
    Ports that would meet anyway, or run past 65535, are refused when the settings are built."""
    kafka_brokers: int = 1
    """Brokers in the cluster, 1 or 3. With 3, `infra up` runs three local KRaft nodes (kafka, kafka-2,
    kafka-3), each broker and controller, and every topic, internal ones included, gets replication
    factor 3 with min.insync.replicas=2 (1 and 1 with one broker). Set it to 3 for an external
    three-broker cluster too (kafka_bootstrap), since `infra topics` creates the topics with it."""
    kafka_version: str = "4.1.1"
    """Apache Kafka broker version fetched from Maven Central."""
    kafka_heap_mb: int = 512
    """JVM heap of the local broker; small on purpose for a 2-core machine."""
    kafka_bootstrap: str | None = None
    """Bootstrap servers of an external cluster; unset means the local broker."""

    # --- Flink ---------------------------------------------------------------------
    flink_kafka_connector_version: str = "5.0.0-2.2"
    """flink-sql-connector-kafka version matching the PyFlink version."""
    flink_mode: Literal["mini", "cluster"] = "mini"
    """Where the routing job runs: `mini`, a mini-cluster inside the router process; `cluster`, a session
    cluster that `infra up` starts (the `flink` part: a JobManager and flink_taskmanagers TaskManagers from the
    PyFlink distribution's scripts), to which the router submits the job with `flink run`."""
    flink_parallelism: int = 1
    """Parallelism of the routing job: 1 by default on the mini-cluster, 2 by default in cluster mode (one
    subtask on each TaskManager)."""
    flink_host: str = "127.0.0.1"
    """Interface the session cluster's JobManager and TaskManagers bind to, and where clients reach its REST API."""
    flink_port: int = 8081
    """Port of the session cluster's REST API and Web UI."""
    flink_rpc_port: int = 6123
    """Port the session cluster's TaskManagers reach the JobManager on (RPC)."""
    flink_taskmanagers: int = Field(default=2, ge=1, le=8)
    """TaskManagers of the session cluster (taskmanager-1, taskmanager-2, ...)."""
    flink_task_slots: int = Field(default=2, ge=1)
    """Task slots of each TaskManager; the cluster runs a job of parallelism up to taskmanagers x slots."""
    flink_jobmanager_memory: str = "1024m"
    """Total process memory of the JobManager JVM (jobmanager.memory.process.size)."""
    flink_taskmanager_memory: str = "1536m"
    """Total process memory of each TaskManager JVM (taskmanager.memory.process.size); the Python workers run
    beside it, outside this budget."""
    flink_savepoint_timeout_s: float = Field(default=180.0, gt=0)
    """How long `infra down` waits for the routing job's stop-with-savepoint before it cancels the job (the next
    start then resumes from the newest retained checkpoint instead)."""
    flink_buffer_timeout_ms: int = 5
    """Network buffer flush interval; low for routing latency."""
    flink_checkpoint_interval_ms: int = 5000
    """How often the routing job checkpoints state and source offsets."""

    # --- MLflow --------------------------------------------------------------------
    mlflow_host: str = "127.0.0.1"
    mlflow_port: int = 5000
    """Port of the local MLflow tracking server."""
    mlflow_tracking_uri: str | None = None
    """Tracking server of an external MLflow; unset means the local server."""

    # --- JupyterLab (`sdr-pipeline lab`) ---------------------------------------------
    lab_host: str = "127.0.0.1"
    """Interface JupyterLab binds to; loopback by default, since whoever reaches it runs code here."""
    lab_port: int = 8888
    """Port of JupyterLab."""
    lab_token: SecretStr = SecretStr("")
    """Token JupyterLab asks for; unset means a random one made once in <state_dir>/secrets/lab.key."""
    lab_root_dir: Path = Path(".")
    """Folder JupyterLab opens (the checkout, with notebooks/ and evals/)."""

    # --- LLM -----------------------------------------------------------------------
    llm_provider: Literal["local", "openai"] = "local"
    """`local` serves a GGUF model with llama-server; `openai` uses any compatible base URL."""
    llm_model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"
    """Model name: a local model from the model table, or the provider's model id."""
    llm_base_url: str | None = None
    """OpenAI-compatible endpoint; unset means the local llama-server."""
    llm_api_key: SecretStr = SecretStr("")
    """Key for a hosted provider; never logged."""
    llm_host: str = "127.0.0.1"
    llm_port: int = 8080
    """Port of the local llama-server."""
    llm_threads: int = 2
    """CPU threads llama-server may use."""
    llm_context: int = 8192
    """Context llama-server allocates, shared by its request slots: room for two few-shot prompts at once."""
    llm_timeout_s: float = 60.0
    """Timeout of one LLM request."""
    llm_max_attempts: int = 3
    """Attempts per LLM call on 429, 5xx and timeouts."""
    llm_cache: bool = True
    """Use the on-disk response cache (the evaluation lab turns it on)."""
    llm_parallel: int = 2
    """Request slots llama-server serves at once; they share llm_context (--kv-unified)."""
    llm_server_bin: Path | None = None
    """A llama-server executable to use instead of the one built from vendored sources."""

    # --- services ------------------------------------------------------------------
    agents_host: str = "127.0.0.1"
    agents_port: int = 8100
    """Port of the agents service."""
    intake_host: str = "127.0.0.1"
    intake_port: int = 8200
    """Port of the intake web form and webhooks."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    """SMTP server the send_email agent talks to (the local one by default)."""
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    email_from: str = "sdr@example.com"
    """Sender address of outgoing e-mails."""
    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS (for a real SMTP host)."""
    smtp_timeout_s: float = 15.0
    """Timeout of one SMTP conversation."""
    outbox_poll_s: float = 30.0
    """How often the agents service sends scheduled e-mails that fell due."""
    request_max_bytes: int = 65_536
    """Largest request body the agents and intake services accept (413 above)."""
    crm_fixture: Path | None = None
    """CRM records JSON file; unset means the packaged offline fixture."""
    crm_url: str | None = None
    """Base URL of a real CRM lookup API (GET <url>/companies?domain=...); replaces the fixture when set."""
    enrichment_fixture: Path | None = None
    """Firmographic enrichment JSON file; unset means the packaged offline fixture."""
    enrichment_url: str | None = None
    """Base URL of a real enrichment API (GET <url>/companies?domain=...); replaces the fixture when set."""
    website_fetch: bool = True
    """Let lead_ingestion fetch the lead's public website (never private or local addresses)."""
    website_timeout_s: float = 8.0
    """Total time one website fetch may take, redirects included."""
    website_max_bytes: int = 300_000
    """Bytes of a web page read at most; the rest is ignored."""
    website_max_redirects: int = 4
    """Redirects followed at most, each checked like the first address."""
    product_pitch: str = (
        "Relay, an AI assistant that researches, scores and follows up inbound B2B leads "
        "so that sales teams answer every lead within minutes"
    )
    """What we sell, in one sentence: the agents judge fit and write e-mails against it."""
    sender_name: str = "Alex Morgan, Relay"
    """Signature of outgoing e-mails."""
    agents_llm_timeout_s: float = 300.0
    """Timeout of one LLM request made by an agent (drafting e-mails takes longer than routing)."""

    # --- routing -------------------------------------------------------------------
    router_policy: Literal["llm", "contract", "strict", "cascade"] = "cascade"
    """`llm` asks the model among every agent; `contract` narrows by input contracts first (an off-contract
    message is asked among every agent and flagged); `strict` dead-letters off-contract messages; `cascade`
    lets the classifier answer what it is sure of, the model the rest, and sends the unsure to review."""
    router_example_pool: Annotated[tuple[Path, ...], NoDecode] = (
        Path("datasets/field_v1.jsonl"), Path("datasets/field_dev_v1.jsonl"), Path("datasets/routing_v1.jsonl"))
    """Dataset files whose dev split is the router's example pool: retrieved few-shot examples and the
    cascade's classifier learn from it (comma-separated in SDR_ROUTER_EXAMPLE_POOL)."""
    @field_validator("router_example_pool", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    router_cascade_accept: float = Field(default=0.6, ge=0.0, le=1.0)
    """Cascade: the classifier answers alone at or above this calibrated probability (chosen in the lab on
    dev data: the lowest at which its out-of-fold answers are right 97 % of the time)."""
    router_review_below: float = Field(default=0.4, ge=0.0, le=1.0)
    """Cascade: a model answer less likely than this goes to `needs_review` instead of being acted on."""
    review_secret: SecretStr = SecretStr("")
    """HMAC key of reviewers' verdicts (`sdr-pipeline review resolve`); the job acts only on verdicts signed
    with it, so none are accepted while it is empty."""
    router_prompt: str = "router"
    """Prompt name, a folder under prompts/."""
    router_prompt_version: str = "v6"
    """Prompt version the routing job starts with (a file under prompts/<name>/, or `latest`);
    promotions then arrive on router_control and switch it live."""
    router_answer_attempts: int = 3
    """Times the router asks the model for a valid answer before the message is dead-lettered."""
    max_hops: int = 12
    """Agent hops allowed for one lead before its workflow is stopped."""
    budget_tokens_per_lead: int = 60_000
    """LLM tokens one lead may use for routing."""
    budget_usd_per_lead: float = 0.05
    """LLM cost one lead may use for routing."""
    dispatch_capacity: int = 16
    """In-flight agent calls of the async dispatch operator."""
    dispatch_timeout_s: float = 120.0
    """Timeout of one agent call, unless the registry sets its own."""
    redelivery_attempts: int = Field(default=6, ge=0)
    """Times a task that failed for a passing reason (an agent down or overloaded, the model unreachable) is
    set aside on `redeliveries` and tried again before it becomes a dead letter; 0 dead-letters at once."""
    redelivery_initial_s: float = Field(default=30.0, gt=0)
    """Wait before the first redelivery; each next one waits twice as long, up to redelivery_max_s."""
    redelivery_max_s: float = Field(default=900.0, gt=0)
    """Longest wait between two redeliveries: with the defaults a task is tried for about half an hour
    (30 s, 1, 2, 4, 8 and 15 min) before it is dead-lettered, so an outage of minutes loses no lead."""

    # --- what every reader of a topic agrees to parse (intake bridge, routing job) -------
    record_max_bytes: int = Field(default=262_144, gt=0)
    """Largest topic value parsed; a larger one becomes a dead letter. Keep it under a third of the
    producer's max.request.size (1 MiB): a review task carries the value twice."""
    record_max_json_depth: int = Field(default=32, gt=0)
    """Deepest JSON nesting parsed; deeper becomes a dead letter (deep JSON exhausts Python's stack)."""
    dead_letter_max_bytes: int = Field(default=524_288, ge=16_384, le=1_000_000)
    """Largest dead letter written, below the producer's max.request.size (1 MiB); a raw value that
    would not fit is cut, keeping its first bytes, its size and its sha256."""

    # --- intake: the bridge and idempotent submissions ---------------------------------
    intake_bridge_poll_s: float = Field(default=1.0, gt=0)
    """How long one bridge poll waits for records; each poll is also the loop's heartbeat."""
    intake_bridge_stale_s: float = Field(default=30.0, gt=0)
    """Intake /health answers 503 once the bridge loop has shown no heartbeat for this long."""
    intake_bridge_backoff_initial_s: float = Field(default=0.5, gt=0)
    """First wait before the bridge retries a publish or restarts its loop; doubles on each failure."""
    intake_bridge_backoff_max_s: float = Field(default=30.0, gt=0)
    """Longest wait between two bridge retries or restarts."""
    intake_bridge_publish_retry_s: float = Field(default=60.0, gt=0)
    """How long the bridge retries one publish before it restarts its loop; the record is not committed,
    so it is read again (keep it below Kafka's max.poll.interval of 300 s)."""
    intake_dedup_window_s: float = Field(default=86_400.0, ge=0)
    """One lead per e-mail address within this window: a repeat returns the lead accepted first (0: off)."""
    intake_idempotency_ttl_s: float = Field(default=7 * 86_400.0, gt=0)
    """How long intake remembers a form token or Idempotency-Key (and the lead it created)."""

    # --- outbox: retries, liveness and opt-outs ------------------------------------------
    outbox_max_attempts: int = Field(default=5, ge=1)
    """Attempts at sending one e-mail before it is marked `failed` (see `sdr-pipeline agents outbox`)."""
    outbox_retry_initial_s: float = Field(default=60.0, gt=0)
    """Wait before an e-mail whose send failed is tried again; doubles with each further failure."""
    outbox_retry_max_s: float = Field(default=3600.0, gt=0)
    """Longest wait between two attempts at one e-mail."""
    outbox_claim_timeout_s: float = Field(default=600.0, gt=0)
    """An e-mail claimed for sending but not marked sent this long after (the process died mid-send) is sent
    again: the one at-least-once window SMTP leaves open; keep it well above smtp_timeout_s."""
    outbox_stale_after_s: float = Field(default=120.0, gt=0)
    """Agents /health answers 503 once the scheduler (or the opt-out watcher) has shown no heartbeat for this
    long beyond its own poll interval (outbox_poll_s for the scheduler)."""
    email_unsubscribe_to: str | None = None
    """Address of the `List-Unsubscribe: <mailto:…>` header on every e-mail; unset means email_from, whose
    replies reach the inbound webhook, where an unsubscribe is recognised as an opt-out."""
    email_unsubscribe_url: str | None = None
    """One-click unsubscribe endpoint (RFC 8058, https): when set, every e-mail also lists
    `<url>?id=<its Message-ID>` and carries `List-Unsubscribe-Post`; the page behind it must call
    `Outbox.unsubscribe_message(id)`."""

    @field_validator("email_unsubscribe_url")
    @classmethod
    def _unsubscribe_url_is_https(cls, value: str | None) -> str | None:
        if value and not value.lower().startswith("https://"):
            raise ValueError("must be an https:// URL (RFC 8058 one-click unsubscribe requires HTTPS), "
                             "or leave SDR_EMAIL_UNSUBSCRIBE_URL unset")
        return value or None

    # --- routing job: poison pills, duplicates, restarts -------------------------------
    job_dedup_ttl_s: float = Field(default=14 * 86_400.0, gt=0)
    """How long the job remembers a message_id to drop a redelivered copy; the default is agent_messages'
    retention, so nothing the topic can still deliver is taken twice."""
    job_restart_initial_backoff_s: float = Field(default=1.0, gt=0)
    """First wait before Flink restarts the failed job; doubles on each failure in a row, with no attempt cap."""
    job_restart_max_backoff_s: float = Field(default=60.0, gt=0)
    """Longest wait between two restarts of the job."""

    # --- routing job: state that survives upgrades, the start prompt, logs ----------------
    job_state_backend: Literal["rocksdb", "hashmap"] = "rocksdb"
    """Where the job keeps its keyed state: `rocksdb` (on disk, incremental checkpoints: state larger than memory,
    checkpoints that copy only what changed) or `hashmap` (on the heap, full checkpoints; for a machine without
    RocksDB's native library)."""
    job_ledger_ttl_s: float = Field(default=30 * 86_400.0, gt=0)
    """How long the job keeps a lead's ledger (tokens, cost, loop chain, stop) after its last decision; a lead
    silent for longer starts afresh, so the state does not grow with every lead ever seen."""
    job_sink_guarantee: Literal["at-least-once", "exactly-once"] = "at-least-once"
    """How the job writes its topics. `exactly-once` commits them in Kafka transactions with each checkpoint,
    so a crash and replay leave no record twice for read_committed readers (every reader of ours) -- but a
    record is seen only once its checkpoint completes, and PyFlink's async operators let a checkpoint
    complete only after every call in flight (an agent's answer: up to minutes) has returned. Hence
    at-least-once by default: records seen at once, a replayed record possibly twice (readers dedupe by id)."""
    job_allow_unclaimed_state: bool = False
    """Let the job resume from a checkpoint whose state some operator of the new code does not claim, dropping
    that state. Off: such a resume fails with the operators named, so an upgrade never loses state silently;
    turn it on only for one deliberate start after removing an operator."""
    job_prompt_lookup_timeout_s: float = Field(default=5.0, gt=0)
    """How long the job waits, at start, for MLflow to name the router prompt's `production` version before it
    falls back to router_prompt_version."""
    log_max_bytes: int = Field(default=20_000_000, ge=100_000)
    """Size at which a log under <state_dir>/logs is rotated (name.log -> name.log.1, ...)."""
    log_backups: int = Field(default=3, ge=1)
    """Rotated copies kept of each log; the oldest is deleted."""

    # --- trust: signed calls, the inbound webhook, recipients, links, rate limits ----------
    dispatch_secret: SecretStr = SecretStr("")
    """HMAC key shared by the routing job, the agents and intake: it signs every dispatch (the agents refuse an
    unsigned POST with 401), send_email's lookups at intake's /internal door, what agents write, and our e-mails'
    Message-IDs. Unset while the agents and intake listen on loopback only, a random key is made once in
    <state_dir>/secrets/; otherwise it must be set, to the same value everywhere."""
    inbound_webhook_secret: SecretStr = SecretStr("")
    """HMAC key of the inbound e-mail webhook (`X-SDR-Signature: t=…,v1=…` over the timestamp and body), shared
    with the e-mail provider or relay that posts replies. Unset on a loopback-only stack, made like dispatch_secret."""
    signature_max_age_s: float = Field(default=300.0, gt=0)
    """How far a signed request's timestamp may be from this machine's clock, either way; beyond it the request is
    refused as a replay."""
    agents_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.1", "localhost")
    """Host headers the agents service answers (any other is refused with 400 before a route runs); comma-separated
    in SDR_AGENTS_ALLOWED_HOSTS. Add the name the routing job uses, e.g. `agents` in docker-compose."""
    intake_base_url: str | None = None
    """How the agents reach intake's /internal door; unset means http://<intake_host>:<intake_port>."""
    intake_lookup_timeout_s: float = Field(default=10.0, gt=0)
    """Timeout of one lookup of a lead's addresses at intake (send_email makes one per message)."""
    email_link_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    """Hosts a link in a drafted e-mail may point to (our site, a booking page), besides email_from's domain and
    their subdomains; every other link is dropped, whatever the lead's own fields or reply name. Comma-separated."""
    intake_rate_per_ip: str = "60/minute"
    """Requests one client address may make to each public intake door (form, JSON leads, webhook), in `limits`
    notation (`N/second|minute|hour|day`); beyond it the door answers 429 with Retry-After."""
    intake_rate_per_address: str = "10/hour"
    """Submissions, or replies, one e-mail address may make (same notation); beyond it 429."""
    intake_rate_storage: str = "memory://"
    """Where intake keeps its rate counters (a `limits` storage URI; `redis://host:6379` shares them between
    intake replicas)."""

    @field_validator("agents_allowed_hosts", "email_link_hosts", mode="before")
    @classmethod
    def _comma_separated_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("intake_rate_per_ip", "intake_rate_per_address")
    @classmethod
    def _rate_notation(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as '60/minute' or '10/hour; 100/day'") from None
        return value

    @field_validator("kafka_brokers")
    @classmethod
    def _one_or_three_brokers(cls, value: int) -> int:
        if value not in (1, 3):
            raise ValueError(f"{value} brokers is not supported: set SDR_KAFKA_BROKERS to 1 (one node) or 3 "
                             "(a replicated cluster that survives one broker down)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _cluster_parallelism(cls, data: Any) -> Any:
        """In cluster mode the job runs at parallelism 2 unless SDR_FLINK_PARALLELISM says otherwise."""
        if isinstance(data, dict) and data.get("flink_mode") == "cluster" and data.get("flink_parallelism") is None:
            return {**data, "flink_parallelism": 2}
        return data

    @model_validator(mode="after")
    def _kafka_ports_apart(self) -> Settings:
        ports = [port for pair in self.kafka_node_ports for port in pair]
        if len(set(ports)) < len(ports) or max(ports) > 65535 or min(ports) < 1:
            raise ValueError(f"the Kafka nodes' client ports {[p for p, _ in self.kafka_node_ports]} and controller "
                             f"ports {[c for _, c in self.kafka_node_ports]} must be distinct ports up to 65535: "
                             "move SDR_KAFKA_PORT or SDR_KAFKA_CONTROLLER_PORT (node n uses port + 2(n-1))")
        return self

    # --- derived -------------------------------------------------------------------
    def to_env(self) -> dict[str, str]:
        """These settings as SDR_* variables, so a child process (`infra up`, test fixtures) builds
        the very same Settings; relative paths are made absolute, unset values are left out."""
        env: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Path):
                value = value.resolve()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, tuple) and all(isinstance(item, Path) for item in value):
                value = ",".join(str(item.resolve()) for item in value)
            elif isinstance(value, tuple):
                value = ",".join(str(item) for item in value)
            env[f"SDR_{name.upper()}"] = str(value)
        return env

    @property
    def bootstrap_servers(self) -> str:
        """Kafka bootstrap servers clients should use: the external cluster, or every local node."""
        return self.kafka_bootstrap or ",".join(f"{self.kafka_host}:{port}" for port, _ in self.kafka_node_ports)

    @property
    def kafka_node_ports(self) -> tuple[tuple[int, int], ...]:
        """(client port, controller port) of each local Kafka node, node 1 first."""
        return tuple((self.kafka_port + 2 * index, self.kafka_controller_port + 2 * index)
                     for index in range(self.kafka_brokers))

    @property
    def kafka_replication_factor(self) -> int:
        """Replicas of every topic (internal ones included): one on each broker."""
        return self.kafka_brokers

    @property
    def kafka_min_insync_replicas(self) -> int:
        """Replicas that must hold a record before an acks=all write returns: 2 of 3, so one broker may be
        down without losing a write or refusing one."""
        return 2 if self.kafka_brokers >= 3 else 1

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI clients should use."""
        return self.mlflow_tracking_uri or f"http://{self.mlflow_host}:{self.mlflow_port}"

    @property
    def llm_endpoint(self) -> str:
        """OpenAI-compatible base URL (ending in /v1) the LLM client talks to."""
        return self.llm_base_url or f"http://{self.llm_host}:{self.llm_port}/v1"

    @property
    def agents_url(self) -> str:
        """Base URL of the agents service the routing job dispatches to."""
        return f"http://{self.agents_host}:{self.agents_port}"

    @property
    def intake_url(self) -> str:
        """Base URL of the intake service as the agents call it (its /internal door)."""
        return (self.intake_base_url or f"http://{self.intake_host}:{self.intake_port}").rstrip("/")

    @property
    def jars_dir(self) -> Path:
        """Maven-resolved jars, one folder per purpose."""
        return self.cache_dir / "jars"

    @property
    def maven_repo(self) -> Path:
        """Local Maven repository outside the checkout."""
        return self.cache_dir / "m2"

    @property
    def models_dir(self) -> Path:
        """Verified GGUF model files."""
        return self.cache_dir / "models"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid files of processes `infra up` started."""
        return self.state_dir / "run"
