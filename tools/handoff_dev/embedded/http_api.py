"""API Gateway (HTTP API, payload format 2.0) in front of the in-process functions.

moto does not serve API Gateway routes to Lambda, so this small loopback server
turns each request into the v2 event the real HTTP API sends and the function's
answer back into HTTP.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
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


def build_event(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    return {
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


class HttpApi:
    def __init__(
        self, registry: FunctionRegistry, routes: list[Route], host: str = "127.0.0.1", port: int = 3000
    ) -> None:
        self.registry = registry
        self.routes = {(r.method, r.path): r for r in routes}
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> HttpApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _serve(self) -> None:
                api._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
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
        route = self.routes.get((h.command, split.path))
        length = int(h.headers.get("Content-Length") or 0)
        if length > API_GATEWAY_PAYLOAD_LIMIT:
            self._write(h, 413, {}, b'{"message":"Request Entity Too Large"}')
            return
        body = h.rfile.read(length) if length else b""
        if route is None:
            self._write(h, 404, {}, b'{"message":"Not Found"}')
            return
        headers = {k.lower(): v for k, v in h.headers.items()}
        event = build_event(h.command, split.path, split.query, headers, body, h.client_address[0])
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
