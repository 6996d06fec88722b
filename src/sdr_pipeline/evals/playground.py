"""Route one message and keep everything that happened: the rendered prompt, each raw answer, the decision.

What `notebooks/02_routing_playground.ipynb` shows; it calls the same `router.decide`
as the job and the lab, through a recording client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdr_pipeline.contracts.decision import RoutingDecision
from sdr_pipeline.evals.datasets import Example
from sdr_pipeline.evals.recording import RecordedCall, RecordingClient
from sdr_pipeline.exceptions import RouterDecisionError, UserError
from sdr_pipeline.router import DEFAULT_ANSWER_ATTEMPTS, decide

if TYPE_CHECKING:
    from sdr_pipeline.contracts.decision import RoutingPolicy
    from sdr_pipeline.contracts.envelope import Envelope
    from sdr_pipeline.llm import ChatClient
    from sdr_pipeline.registry import AgentRegistry
    from sdr_pipeline.router import RouterPrompt

__all__ = ["PlaygroundTrace", "pick_example", "route_one"]


@dataclass(frozen=True)
class PlaygroundTrace:
    """One routed message, step by step."""

    envelope: Envelope
    prompt_messages: list[dict[str, str]]
    """The rendered prompt as sent on the first model call (or as it would be, if no call was needed)."""
    calls: tuple[RecordedCall, ...]
    """Every model call, re-asks included."""
    decision: RoutingDecision | None
    error: str | None
    """The router's reason for giving up, when no valid answer came."""

    @property
    def raw_answers(self) -> list[str]:
        return [call.result.content for call in self.calls]

    def transcript(self) -> str:
        """The prompt messages as readable text, one block per role."""
        return "\n\n".join(f"── {message['role']} ──\n{message['content']}" for message in self.prompt_messages)


def pick_example(examples: Sequence[Example], *, example_id: str | None = None, index: int = 0) -> Example:
    """The example with `example_id`, else the one at `index`."""
    if example_id:
        for example in examples:
            if example.id == example_id:
                return example
        raise UserError(f"no example with id {example_id!r}", fix="pick an id from the dataset (or use index)")
    if not 0 <= index < len(examples):
        raise UserError(f"index {index} is outside the {len(examples)} examples")
    return examples[index]


def route_one(envelope: Envelope, *, prompt: RouterPrompt, policy: RoutingPolicy, llm: ChatClient,
              registry: AgentRegistry, answer_attempts: int = DEFAULT_ANSWER_ATTEMPTS) -> PlaygroundTrace:
    """Decide one envelope with `router.decide`, recording the conversation with the model."""
    recorder = RecordingClient(llm)
    decision: RoutingDecision | None = None
    error: str | None = None
    try:
        decision = decide(envelope, prompt=prompt, policy=policy, llm=recorder, registry=registry,
                          answer_attempts=answer_attempts)
    except RouterDecisionError as failure:
        error = failure.problem
    messages = recorder.calls[0].messages if recorder.calls else prompt.render(envelope, registry)
    return PlaygroundTrace(envelope=envelope, prompt_messages=messages, calls=tuple(recorder.calls),
                           decision=decision, error=error)
