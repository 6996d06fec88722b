"""The agent registry: agents defined as data in one YAML file.

Each entry names an agent, says what it is for, which envelope contract it accepts, which
payload contract it writes and where it is served. Everything else is generated from it:
the agent section of the router prompt (`prompt_section`), the `contract` routing policy
(`check_input`, `candidates`) and the dispatch table (`dispatch_table`). Adding an agent is
one entry here plus one module `sdr_pipeline.agents.<name>`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sdr_pipeline.contracts import CONTRACTS, Envelope, check_envelope
from sdr_pipeline.contracts.decision import NONE_AGENT
from sdr_pipeline.contracts.parsing import first_problem
from sdr_pipeline.exceptions import RegistryError

__all__ = ["NONE_AGENT", "AgentRegistry", "AgentSpec", "default_registry_path", "load_registry"]

logger = logging.getLogger(__name__)

"""The decision that ends a lead's workflow; never an agent entry (its own section in the file)."""

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_ENDPOINT = re.compile(r"^(/[A-Za-z0-9_\-]+)+$")
_DEFAULT_NONE_DESCRIPTION = "Stop the lead's workflow."


class AgentSpec(BaseModel):
    """One agent as the registry declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Registry name; also the `produced_by` of its output and its module `sdr_pipeline.agents.<name>`."""
    description: str = Field(min_length=1)
    """When to route to it; goes verbatim into the router prompt."""
    input_contract: str
    """Envelope contract the agent accepts (a name in `sdr_pipeline.contracts.CONTRACTS`)."""
    output_contract: str
    """Payload contract of the context it writes."""
    endpoint: str
    """URL path on the agents service, e.g. `/agents/lead_scoring`."""
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """How long the dispatcher waits for one call."""
    max_attempts: int = Field(default=3, ge=1, le=20)
    """Calls the dispatcher makes before dead-lettering the message."""

    @field_validator("name")
    @classmethod
    def _name_ok(cls, name: str) -> str:
        if name == NONE_AGENT:
            raise ValueError(f"'{NONE_AGENT}' is reserved for the stop decision")
        if not _NAME.match(name):
            raise ValueError("must be lower_snake_case, 2-64 characters, starting with a letter")
        return name

    @field_validator("description", mode="before")
    @classmethod
    def _one_line(cls, description: Any) -> Any:
        return " ".join(description.split()) if isinstance(description, str) else description

    @field_validator("input_contract")
    @classmethod
    def _input_known(cls, name: str) -> str:
        return _known_contract(name, "envelope")

    @field_validator("output_contract")
    @classmethod
    def _output_known(cls, name: str) -> str:
        return _known_contract(name, "payload")

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_path(cls, endpoint: str) -> str:
        if not _ENDPOINT.match(endpoint):
            raise ValueError(f"'{endpoint}' is not a URL path like /agents/<name> (no host, query or trailing slash)")
        return endpoint


def _known_contract(name: str, kind: str) -> str:
    spec = CONTRACTS.get(name)
    if spec is None:
        raise ValueError(f"unknown contract '{name}'; known {kind} contracts: "
                         + ", ".join(sorted(n for n, s in CONTRACTS.items() if s.kind == kind)))
    if spec.kind != kind:
        raise ValueError(f"contract '{name}' is a {spec.kind} contract, expected a {kind} contract")
    return name


class AgentRegistry:
    """The loaded, validated registry: read-only."""

    def __init__(self, agents: Sequence[AgentSpec], *, none_description: str = _DEFAULT_NONE_DESCRIPTION,
                 none_contract: str | None = None, source: str = "") -> None:
        self._agents = tuple(agents)
        self._by_name = {agent.name: agent for agent in self._agents}
        self.none_description = none_description
        """What the stop decision means; the last line of the prompt section."""
        self.none_contract = none_contract
        """The terminal contract: a message that satisfies it may end the workflow without a model call."""
        self.source = source
        """The file it was loaded from."""

    @property
    def agents(self) -> tuple[AgentSpec, ...]:
        return self._agents

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def get(self, name: str) -> AgentSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise RegistryError(name, f"no such agent; registered: {', '.join(self.names)}", path=self.source) from None

    def prompt_section(self) -> str:
        """The agent list of the router prompt, one line per agent plus `none`, in registry order."""
        lines = [f"- {agent.name}: {agent.description}" for agent in self._agents]
        lines.append(f"- {NONE_AGENT}: {self.none_description}")
        return "\n".join(lines)

    def check_input(self, name: str, envelope: Envelope | Mapping[str, Any]) -> str | None:
        """None if agent `name` accepts the envelope, else the reason; `none` may always be decided."""
        if name == NONE_AGENT:
            return None
        return check_envelope(self.get(name).input_contract, envelope)

    def candidates(self, envelope: Envelope | Mapping[str, Any]) -> dict[str, str | None]:
        """Every agent (and `none`, when it has a terminal contract) mapped to None (its input contract
        accepts the envelope) or the reason it rejects it."""
        verdicts = {agent.name: check_envelope(agent.input_contract, envelope) for agent in self._agents}
        if self.none_contract is not None:
            verdicts[NONE_AGENT] = check_envelope(self.none_contract, envelope)
        return verdicts

    def dispatch_table(self, base_url: str) -> dict[str, str]:
        """Agent name -> full URL of its endpoint on the agents service at `base_url`."""
        root = base_url.rstrip("/")
        return {agent.name: root + agent.endpoint for agent in self._agents}

    def __len__(self) -> int:
        return len(self._agents)

    def __repr__(self) -> str:
        return f"AgentRegistry({', '.join(self.names)})"


def default_registry_path() -> Path:
    """The agents.yaml packaged next to this module."""
    return Path(str(resources.files(__name__).joinpath("agents.yaml")))


def load_registry(path: Path | None = None) -> AgentRegistry:
    """Load and validate a registry file; any bad entry raises a RegistryError naming it."""
    source = Path(path) if path is not None else default_registry_path()
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError("(file)", "file not found", path=str(source)) from None
    except yaml.YAMLError as error:
        raise RegistryError("(file)", f"not valid YAML ({error})", path=str(source)) from None
    if not isinstance(document, dict) or not isinstance(document.get("agents"), list) or not document["agents"]:
        raise RegistryError("(file)", "expected a mapping with a non-empty `agents:` list", path=str(source))

    agents: list[AgentSpec] = []
    endpoints: dict[str, str] = {}
    for position, entry in enumerate(document["agents"], start=1):
        label = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"#{position}"
        if not isinstance(entry, dict):
            raise RegistryError(label, "each entry must be a mapping of fields", path=str(source))
        try:
            agent = AgentSpec.model_validate(entry)
        except ValidationError as error:
            field, problem = first_problem(error, whole="(entry)")
            raise RegistryError(label, f"{field}: {problem}", path=str(source)) from None
        if any(existing.name == agent.name for existing in agents):
            raise RegistryError(label, "duplicate name", path=str(source))
        if agent.endpoint in endpoints:
            raise RegistryError(label, f"endpoint {agent.endpoint} is already used by '{endpoints[agent.endpoint]}'",
                                path=str(source))
        endpoints[agent.endpoint] = agent.name
        agents.append(agent)

    none_section = document.get("none") or {}
    if not isinstance(none_section, dict):
        raise RegistryError(NONE_AGENT, "the `none:` section must be a mapping (description, input_contract)",
                            path=str(source))
    none_contract = none_section.get("input_contract")
    if none_contract is not None:
        try:
            _known_contract(str(none_contract), "envelope")
        except ValueError as error:
            raise RegistryError(NONE_AGENT, f"input_contract: {error}", path=str(source)) from None
    registry = AgentRegistry(
        agents, none_description=" ".join(str(none_section.get("description") or _DEFAULT_NONE_DESCRIPTION).split()),
        none_contract=str(none_contract) if none_contract is not None else None, source=str(source),
    )
    logger.debug("loaded %d agents from %s", len(registry), source)
    return registry
