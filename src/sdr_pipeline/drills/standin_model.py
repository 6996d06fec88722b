"""A stand-in model for the drills: an OpenAI-compatible endpoint answering every call at once.

Drills test what happens around the model (crashes, copies, poison, hostile input), not what it
writes, and the local model takes minutes per lead on 2 cores. This endpoint answers any
JSON-schema constrained call with the smallest deterministic instance of that schema, in
milliseconds:

- the router's `routing_decision`: the first candidate that is not `none` (lead_ingestion before
  lead_scoring, active_outreach before nurture_campaign), `none` when it is the only choice, so a
  web-form lead goes ingestion → scoring → outreach → send_email → none;
- an agent's answer: every required field filled with a short sentence, the lowest enum value,
  a number in range, one item per list.

Run it with `uvicorn sdr_pipeline.drills.standin_model:app` (the drill stack does).
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import FastAPI, Request

from sdr_pipeline.contracts.decision import NONE_AGENT

__all__ = ["answer_for", "app", "instance_of"]

_TEXT = "Stand-in answer for a fault drill."

app = FastAPI(title="sdr-pipeline drill stand-in model")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {})
        return _resolve(target, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [option for option in schema[key] if option.get("type") != "null"]
            return _resolve(options[0] if options else schema[key][0], root)
    return schema


def instance_of(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """The smallest deterministic value that `schema` accepts (the subset pydantic models emit)."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: instance_of(properties[name], root) for name in schema.get("required", properties)}
    if kind == "array":
        return [instance_of(schema.get("items", {}), root) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 100)
        value = max(low, min(high, 80))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    text = _TEXT[: schema.get("maxLength", len(_TEXT))]
    return text.ljust(schema.get("minLength", 0), ".")


def answer_for(schema_name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The stand-in's answer to one call: a routing choice, or the schema's smallest instance."""
    answer = instance_of(schema)
    agent = (schema.get("properties") or {}).get("agent") or {}
    if schema_name == "routing_decision" and isinstance(answer, dict) and agent.get("enum"):
        choices = [name for name in agent["enum"] if name != NONE_AGENT]
        answer["agent"] = choices[0] if choices else NONE_AGENT
        if "confidence" in answer:
            answer["confidence"] = 0.95
    return answer


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/models")
async def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": "standin", "object": "model"}]}


@app.post("/v1/chat/completions")
async def completions(request: Request) -> dict[str, Any]:
    body = await request.json()
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    content = json.dumps(answer_for(fmt.get("name", ""), fmt.get("schema") or {"type": "string"}))
    return {
        "id": "standin", "object": "chat.completion", "created": int(time.time()), "model": body.get("model", "standin"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": max(1, len(content) // 4),
                  "total_tokens": 100 + max(1, len(content) // 4)},
    }
