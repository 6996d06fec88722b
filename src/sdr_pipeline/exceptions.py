"""Every error sdr-pipeline raises on purpose.

Each class carries the fields that locate the problem and builds its own message,
ending with what to do next. Catch the base class at a boundary (CLI, the job's
dead-letter path, the FastAPI error handler); never deeper.

    SdrPipelineError
     ├── UserError              a caller's mistake: bad flag, missing file, busy port
     ├── OutsideError           a service outside the pipeline failed: not the caller's mistake
     │    ├── ServiceUnavailableError   could not be reached, or answered 5xx
     │    ├── ServiceTimeoutError       took longer than we wait
     │    ├── BadAnswerError            answered something we cannot use (4xx, wrong type, bad redirect)
     │    └── RefusedTargetError        an address outside input gave us that we will not contact
     ├── InfraError             a local service or download failed
     ├── ContractError          a message or payload broke its contract
     ├── RegistryError          the agent registry is inconsistent
     ├── RouterDecisionError    the router could not produce a valid decision
     ├── LLMUnavailableError    the model endpoint is down, missing or timing out
     ├── AgentCallError         an agent endpoint failed or timed out
     └── BudgetExceededError    a lead hit its hop, token or cost limit

    BadRequest                  an HTTP request to one of our doors refused (its status and detail)
"""

from __future__ import annotations

__all__ = [
    "AgentCallError",
    "BadAnswerError",
    "BadRequest",
    "BudgetExceededError",
    "ContractError",
    "InfraError",
    "LLMUnavailableError",
    "OutsideError",
    "RefusedTargetError",
    "RegistryError",
    "RouterDecisionError",
    "SdrPipelineError",
    "ServiceTimeoutError",
    "ServiceUnavailableError",
    "UserError",
]


class SdrPipelineError(Exception):
    """Base class: `str(error)` is a complete, user-facing sentence."""


class UserError(SdrPipelineError):
    """The caller asked for something that cannot work as asked."""

    def __init__(self, problem: str, *, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}" + (f" — {fix}" if fix else ""))


class InfraError(SdrPipelineError):
    """A local service, download or build failed."""

    def __init__(self, part: str, problem: str, *, fix: str | None = None, log_tail: str = "") -> None:
        self.part = part
        self.problem = problem
        self.fix = fix
        self.log_tail = log_tail
        message = f"{part}: {problem}" + (f" — {fix}" if fix else "")
        if log_tail:
            message += f"\n--- last lines of the {part} log ---\n{log_tail}"
        super().__init__(message)


class ContractError(SdrPipelineError):
    """A message failed validation; `field` is the dotted path of the first problem."""

    def __init__(
        self,
        contract: str,
        problem: str,
        *,
        field: str = "",
        version: str = "",
        lead_id: str | None = None,
        message_id: str | None = None,
    ) -> None:
        self.contract = contract
        self.problem = problem
        self.field = field
        self.version = version
        self.lead_id = lead_id
        self.message_id = message_id
        where = f" at '{field}'" if field else ""
        label = f"{contract} v{version}" if version else contract
        super().__init__(f"{label}{where}: {problem}")


class RegistryError(SdrPipelineError):
    """The agent registry file has a bad entry."""

    def __init__(self, entry: str, problem: str, *, path: str = "") -> None:
        self.entry = entry
        self.problem = problem
        self.path = path
        source = f" in {path}" if path else ""
        super().__init__(f"agent registry entry '{entry}'{source}: {problem}")


class RouterDecisionError(SdrPipelineError):
    """The LLM's answer was not a valid decision even after retries."""

    def __init__(self, problem: str, *, raw_output: str = "", message_id: str | None = None, lead_id: str | None = None) -> None:
        self.problem = problem
        self.raw_output = raw_output
        self.message_id = message_id
        self.lead_id = lead_id
        super().__init__(f"router decision invalid for message {message_id}: {problem}")


class LLMUnavailableError(SdrPipelineError):
    """The model endpoint could not be reached or kept failing."""

    def __init__(self, endpoint: str, problem: str, *, status_code: int | None = None, timeout_s: float | None = None, fix: str | None = None) -> None:
        self.endpoint = endpoint
        self.problem = problem
        self.status_code = status_code
        self.timeout_s = timeout_s
        hint = fix or "start it with `sdr-pipeline llm serve` or set SDR_LLM_BASE_URL"
        super().__init__(f"LLM at {endpoint}: {problem} — {hint}")


class AgentCallError(SdrPipelineError):
    """An agent endpoint answered with an error or not at all."""

    def __init__(self, agent: str, problem: str, *, status_code: int | None = None, timeout_s: float | None = None, message_id: str | None = None) -> None:
        self.agent = agent
        self.problem = problem
        self.status_code = status_code
        self.timeout_s = timeout_s
        self.message_id = message_id
        status = f" (HTTP {status_code})" if status_code else ""
        super().__init__(f"agent '{agent}' failed on message {message_id}{status}: {problem}")


class BudgetExceededError(SdrPipelineError):
    """A lead used up one of its limits (hops, tokens, cost)."""

    def __init__(self, limit: str, *, used: float, allowed: float, lead_id: str | None = None) -> None:
        self.limit = limit
        self.used = used
        self.allowed = allowed
        self.lead_id = lead_id
        super().__init__(f"lead {lead_id} exceeded its {limit} limit: {used:g} used, {allowed:g} allowed")


class OutsideError(SdrPipelineError):
    """A service outside the pipeline (a company website, a CRM, an enrichment API) failed.

    Not the caller's mistake and not ours: code that can do without the service (lead research) catches
    this family and goes on, while a UserError (a misconfiguration) still stops it."""


class ServiceUnavailableError(OutsideError):
    """The service could not be reached, or answered a server error."""


class ServiceTimeoutError(OutsideError):
    """The service took longer than we wait."""


class BadAnswerError(OutsideError):
    """The service answered something we cannot use: a 4xx, the wrong content type, a broken redirect."""


class RefusedTargetError(OutsideError):
    """An address taken from outside input (a lead's website) that we will not contact: private, local,
    or not http(s)."""


class BadRequest(Exception):
    """An HTTP answer other than 2xx from one of our doors, raised while reading or checking a request.

    Not an SdrPipelineError: it never leaves the request it refuses, and its detail is written for
    whoever sent the request."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
