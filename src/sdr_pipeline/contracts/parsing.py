"""One way to read a JSON message into its contract, so every refusal names the contract and the field.

Every topic reader of ours (envelopes, control messages, redeliveries) turns a bad value into the same
`ContractError`: not JSON, not an object, or the first field that broke the model, with the message's
ids when it got far enough to carry them.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sdr_pipeline.exceptions import ContractError

__all__ = ["first_problem", "parse_json_model"]

Model = TypeVar("Model", bound=BaseModel)


def first_problem(error: ValidationError, *, skip: Collection[str] = (), whole: str = "") -> tuple[str, str]:
    """(dotted field path, message) of a pydantic error's first problem: what every refusal of ours names.

    `skip` drops path parts that mean nothing to the writer (a tagged union's tags); `whole` names the
    path when the problem is the value as a whole. A validator's "Value error, " prefix is dropped."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"] if part not in skip)
    return path or whole, first["msg"].removeprefix("Value error, ")


def _text_id(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def parse_json_model(model: type[Model], raw: bytes | str | dict[str, Any], *, contract: str,
                     version: str = "") -> Model:
    """`raw` (JSON text or an already decoded object) as `model`, or a ContractError naming the field."""
    try:
        data = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ContractError(contract, f"not valid JSON ({error})", version=version) from None
    if not isinstance(data, dict):
        raise ContractError(contract, f"expected a JSON object, got {type(data).__name__}", version=version)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        field, problem = first_problem(error)
        raise ContractError(contract, problem, field=field, version=version, lead_id=_text_id(data, "lead_id"),
                            message_id=_text_id(data, "message_id")) from None
