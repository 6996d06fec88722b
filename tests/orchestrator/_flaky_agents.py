"""A stand-in in front of the real agents service that fails on purpose, for the retry test.

Requests for leads whose name starts with "Flaky" get HTTP 500 twice per message id, then
pass through to the real agents service (SDR_TEST_UPSTREAM). Everything else passes through, with the
job's signature header, so the real service still checks it (same path, same body).
"""

from __future__ import annotations

import os
from collections import Counter

import httpx
from fastapi import FastAPI, Request, Response

from sdr_pipeline.contracts.signing import SIGNATURE_HEADER

app = FastAPI()
_failures: Counter[str] = Counter()
_UPSTREAM = os.environ.get("SDR_TEST_UPSTREAM", "http://127.0.0.1:8100")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/agents/{agent}")
async def forward(agent: str, request: Request) -> Response:
    body = await request.body()
    envelope = await request.json()
    name = (envelope.get("lead") or {}).get("name") or ""
    if name.startswith("Flaky") and _failures[envelope["message_id"]] < 2:
        _failures[envelope["message_id"]] += 1
        return Response("injected failure", status_code=500)
    async with httpx.AsyncClient(timeout=300.0) as client:
        signature = {SIGNATURE_HEADER: request.headers[SIGNATURE_HEADER]} if SIGNATURE_HEADER in request.headers else {}
        upstream = await client.post(f"{_UPSTREAM}/agents/{agent}", content=body,
                                     headers={"content-type": "application/json", **signature})
    return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")
