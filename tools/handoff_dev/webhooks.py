"""Sign and post DialNexa webhook bodies (demo, replay, stress)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from handoff.ingest.signature import sign

DIALNEXA_HEADER = "X-DialNexa-Signature"


@dataclass
class Delivery:
    path: str
    status: int
    body: str
    ack_ms: float


def post_signed(
    url: str,
    body: bytes,
    secret: str,
    *,
    header: str = DIALNEXA_HEADER,
    timeout: float = 10.0,
    session: requests.Session | None = None,
) -> tuple[int, str, float]:
    headers = {
        "Content-Type": "application/json",
        header: sign(body, secret),
        "User-Agent": "DialNexa-External-Webhook/1.0",
    }
    started = time.perf_counter()
    response = (session or requests).post(url, data=body, headers=headers, timeout=timeout)
    return response.status_code, response.text, (time.perf_counter() - started) * 1000
