"""Reading our YAML files (prompts, the gate, sweeps) into a mapping or a model, one way for all.

Every refusal is a UserError naming the file, and for a model the first field that broke it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from sdr_pipeline.contracts.parsing import first_problem
from sdr_pipeline.exceptions import UserError

__all__ = ["load_yaml_model", "read_yaml_mapping"]

Model = TypeVar("Model", bound=BaseModel)


def read_yaml_mapping(path: Path | str, *, what: str, fix: str, empty_ok: bool = False) -> dict[str, Any]:
    """The mapping in the YAML file `path` (a `what` file); a missing file, bad YAML or another shape is a
    UserError, `fix` saying what to do about a missing one."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} file {path} does not exist", fix=fix) from None
    except yaml.YAMLError as error:
        raise UserError(f"{what} file {path} is not valid YAML: {error}") from None
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{what} file {path} must be a YAML mapping", fix=fix)
    return data


def load_yaml_model(model: type[Model], path: Path | str, *, what: str, fix: str, empty_ok: bool = False,
                    defaults: dict[str, Any] | None = None) -> Model:
    """The YAML file `path` validated as `model` (`defaults` filling what the file leaves out)."""
    data = {**(defaults or {}), **read_yaml_mapping(path, what=what, fix=fix, empty_ok=empty_ok)}
    try:
        return model.model_validate(data)
    except ValidationError as error:
        field, problem = first_problem(error)
        raise UserError(f"{what} file {path}, field '{field}': {problem}") from None
