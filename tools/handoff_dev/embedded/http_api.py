"""API Gateway (HTTP API, payload format 2.0) in front of the in-process functions.

moto does not serve API Gateway routes to Lambda, so this small loopback server
turns each request into the v2 event the real HTTP API sends and the function's
answer back into HTTP.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from handoff_dev.embedded.lambdas import FunctionRegistry

API_GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    iam_auth: bool = False

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route serves ``method path`` (``/reviews/{call_id}/decision``)."""
        if method != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


def build_event(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    route: Route | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "embedded",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
    if route is not None:
        event["routeKey"] = event["requestContext"]["routeKey"] = f"{route.method} {route.path}"
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def iam_principal(headers: dict[str, str]) -> dict[str, Any] | None:
    """The caller of an AWS_IAM route, from its SigV4 Authorization header.

    The embedded stack has no IAM to verify the signature against: it checks
    that the request is SigV4-signed and reports the access key, as API Gateway
    would pass it on. On AWS, API Gateway verifies the signature itself.
    """
    found = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/", headers.get("authorization", ""))
    if not found:
        return None
    return {
        "accessKey": found.group(1),
        "accountId": "123456789012",
        "userArn": f"arn:aws:iam::123456789012:user/{found.group(1)}",
    }


class HttpApi:
    def __init__(
        self, registry: FunctionRegistry, routes: list[Route], host: str = "127.0.0.1", port: int = 3000
    ) -> None:
        self.registry = registry
        self.routes = list(routes)
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        # GET paths the stack answers itself (no function behind them), e.g. /_dev/effects.
        self.local: dict[str, Callable[[], bytes]] = {}

    def start(self) -> HttpApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _serve(self) -> None:
                api._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        server_class = type("HttpApiServer", (ThreadingHTTPServer,), {"request_queue_size": 128})
        self._server = server_class((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="http-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        if h.command == "GET" and split.path in self.local:
            self._write(h, 200, {}, self.local[split.path]())
            return
        route, params = None, None
        for candidate in self.routes:
            params = candidate.match(h.command, split.path)
            if params is not None:
                route = candidate
                break
        length = int(h.headers.get("Content-Length") or 0)
        if length > API_GATEWAY_PAYLOAD_LIMIT:
            self._write(h, 413, {}, b'{"message":"Request Entity Too Large"}')
            return
        body = h.rfile.read(length) if length else b""
        if route is None:
            self._write(h, 404, {}, b'{"message":"Not Found"}')
            return
        headers = {k.lower(): v for k, v in h.headers.items()}
        event = build_event(h.command, split.path, split.query, headers, body, h.client_address[0], route, params)
        if route.iam_auth:
            principal = iam_principal(headers)
            if principal is None:
                self._write(h, 403, {}, b'{"message":"Forbidden"}')
                return
            event["requestContext"]["authorizer"] = {"iam": principal}
        payload, error = self.registry.invoke(route.function, event)
        if error or not isinstance(payload, dict):
            self._write(h, 500, {}, b'{"message":"Internal Server Error"}')
            return
        raw = payload.get("body") or ""
        data = base64.b64decode(raw) if payload.get("isBase64Encoded") else str(raw).encode()
        self._write(h, int(payload.get("statusCode", 200)), payload.get("headers") or {}, data)

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        h.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for key, value in headers.items():
            if key.lower() != "content-length":
                h.send_header(key, str(value))
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
