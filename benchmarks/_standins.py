"""Stand-ins for the routing benchmark: an OpenAI-compatible endpoint with a fixed latency that
always answers with one agent, and a no-op agent that records when each message arrived.

Run with uvicorn; `BENCH_LLM_LATENCY_S` sets the model's latency, `BENCH_AGENT` the answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from fastapi import FastAPI, Request

app = FastAPI()
_LATENCY_S = float(os.environ.get("BENCH_LLM_LATENCY_S", "0.1"))
_AGENT = os.environ.get("BENCH_AGENT", "lead_ingestion")
_arrivals: dict[str, float] = {}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/chat/completions")
async def completions(request: Request) -> dict:
    body = await request.json()
    await asyncio.sleep(_LATENCY_S)
    answer = json.dumps({"agent": _AGENT, "confidence": 0.9, "reason": "benchmark stand-in"})
    return {
        "id": "bench", "object": "chat.completion", "created": int(time.time()), "model": body.get("model", "bench"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": 600, "completion_tokens": 20, "total_tokens": 620},
    }


@app.post("/agents/{agent}")
async def agent(agent: str, request: Request) -> dict[str, str]:
    envelope = await request.json()
    _arrivals.setdefault(envelope["message_id"], time.time())
    return {"status": "ok"}


@app.get("/arrivals")
async def arrivals() -> dict[str, float]:
    return _arrivals
