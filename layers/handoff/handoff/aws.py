"""boto3 clients, created once per process and reused by every invocation.

Creating a client costs tens of milliseconds of CPU; a warm Lambda should pay it
once. The cache key includes ``AWS_ENDPOINT_URL`` and the region, so a process
that talks to several endpoints in turn (the embedded stack in a test run) never
reuses a client bound to the wrong one. boto3 itself is imported on the first
client, so a module may import this one at load and stay free of boto3 until it
talks to AWS.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    key = (service, os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_REGION", ""))
    with _lock:
        if key not in _clients:
            import boto3

            _clients[key] = boto3.client(service)  # type: ignore[call-overload]
        return _clients[key]
