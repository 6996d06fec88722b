"""The router: renders a versioned prompt, asks the model, validates its answer, returns a decision.

The Flink job and the evaluation lab both call `decide` / `adecide` from here, so the
code that is evaluated is the code that runs. No pyflink, mlflow or fastapi imports.
What the router learns from labelled data (retrieved examples, the cascade's classifier)
lives in `router.examples`, built from a dataset's dev split.
"""

from sdr_pipeline.router.decision import DEFAULT_ANSWER_ATTEMPTS, POLICIES, Cascade, adecide, answer_schema, decide
from sdr_pipeline.router.examples import (
    ExamplePool,
    LabelledMessage,
    RouteClassifier,
    load_knowledge,
    load_pool,
    message_text,
)
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
from sdr_pipeline.router.promoted import PRODUCTION_ALIAS, StartVersion, promoted_version, start_version

__all__ = [
    "DATA_BLOCK_END",
    "DATA_BLOCK_START",
    "DATA_IS_NOT_INSTRUCTIONS",
    "DEFAULT_ANSWER_ATTEMPTS",
    "KNOWN_VARIABLES",
    "POLICIES",
    "PRODUCTION_ALIAS",
    "Cascade",
    "ExamplePool",
    "LabelledMessage",
    "RouteClassifier",
    "RouterPrompt",
    "StartVersion",
    "adecide",
    "answer_schema",
    "decide",
    "list_prompts",
    "load_knowledge",
    "load_pool",
    "load_prompt",
    "message_text",
    "promoted_version",
    "render_message_data",
    "start_version",
]
