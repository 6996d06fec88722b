"""The one typed settings object.

Built once at each entry point (CLI, the Flink job's `main`, an app factory) and
passed down; library code never reads the environment itself. Every field can be
overridden by an `SDR_<FIELD>` environment variable or a git-ignored `.env` file,
and docker-compose.yml uses the very same names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
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
    """Client listener port of the local broker."""
    kafka_controller_port: int = 9093
    """KRaft controller listener port of the local broker."""
    kafka_version: str = "4.1.1"
    """Apache Kafka broker version fetched from Maven Central."""
    kafka_heap_mb: int = 512
    """JVM heap of the local broker; small on purpose for a 2-core machine."""
    kafka_bootstrap: str | None = None
    """Bootstrap servers of an external cluster; unset means the local broker."""

    # --- Flink ---------------------------------------------------------------------
    flink_kafka_connector_version: str = "5.0.0-2.2"
    """flink-sql-connector-kafka version matching the PyFlink version."""
    flink_parallelism: int = 1
    """Default parallelism of local Flink jobs."""
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
    router_example_pool: Annotated[tuple[Path, ...], NoDecode] = (Path("datasets/field_v1.jsonl"), Path("datasets/routing_v1.jsonl"))
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
            env[f"SDR_{name.upper()}"] = str(value)
        return env

    @property
    def bootstrap_servers(self) -> str:
        """Kafka bootstrap servers clients should use."""
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"

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
