"""The router: renders a versioned prompt, asks the model, validates its answer, returns a decision.

The Flink job and the evaluation lab both call `decide` / `adecide` from here, so the
code that is evaluated is the code that runs. No pyflink, mlflow or fastapi imports.
"""

from sdr_pipeline.router.decision import DEFAULT_ANSWER_ATTEMPTS, POLICIES, adecide, answer_schema, decide
from sdr_pipeline.router.prompt import (
    DATA_BLOCK_END,
    DATA_BLOCK_START,
    DATA_IS_NOT_INSTRUCTIONS,
    KNOWN_VARIABLES,
    RouterPrompt,
    list_prompts,
    load_prompt,
    render_message_data,
)

__all__ = [
    "DATA_BLOCK_END",
    "DATA_BLOCK_START",
    "DATA_IS_NOT_INSTRUCTIONS",
    "DEFAULT_ANSWER_ATTEMPTS",
    "KNOWN_VARIABLES",
    "POLICIES",
    "RouterPrompt",
    "adecide",
    "answer_schema",
    "decide",
    "list_prompts",
    "load_prompt",
    "render_message_data",
]
