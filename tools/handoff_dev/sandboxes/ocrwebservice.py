"""OCR Web Service sandbox: ``/restservices/getAccountInformation`` and ``processDocument``.

Speaks the vendor's REST format (HTTP Basic with user name and license code,
JSON answers with ``ErrorMessage``, 401 for wrong credentials, 402 when pages
run out, US date strings) over an in-memory account seeded from
``fixtures/ocrwebservice.json``. A "document" here is text whose pages are
separated by form feeds; a body starting with ``%CORRUPT`` is unreadable.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from handoff_dev.sandboxes.base import Request, Response, Sandbox

FIXTURE = Path(__file__).with_name("fixtures") / "ocrwebservice.json"
LANGUAGES = frozenset(
    {"english", "german", "french", "spanish", "dutch", "italian", "portuguese", "brazilian", "polish", "danish"}
)
FORMATS = frozenset({"pdf", "pdfimg", "doc", "docx", "xls", "xlsx", "rtf", "txt"})
MAX_BYTES = 100 * 1024 * 1024


def _error(status: int, message: str) -> Response:
    return Response(status, {"ErrorMessage": message})


class OcrWebServiceSandbox(Sandbox):
    """In-memory OCR Web Service account (22 of 25 pages left by default)."""

    name: ClassVar[str] = "ocrwebservice"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, fixture: Path = FIXTURE) -> None:
        super().__init__(host, port)
        self.fixture = fixture
        self.user_name = ""
        self.license_code = ""
        self.account: dict[str, Any] = {}
        self.seen: list[Request] = []
        self.reset()

    def reset(self) -> None:
        seed = json.loads(self.fixture.read_text())
        with self.lock:
            self.user_name = seed["user_name"]
            self.license_code = seed["license_code"]
            self.account = copy.deepcopy(seed["account"])
            self.effects.clear()
            self.requests.clear()
            self.faults = None
            self.seen.clear()

    def config(self) -> dict[str, Any]:
        return {
            "base_url": f"{self.base_url}/restservices/",
            "user_name": self.user_name,
            "license_code": self.license_code,
        }

    def operation_for(self, request: Request) -> str:
        path = request.path.lower()
        if path == "/restservices/getaccountinformation" and request.method == "GET":
            return "account_information"
        if path == "/restservices/processdocument" and request.method == "POST":
            return "process_document"
        return "unknown"

    def handle(self, request: Request) -> Response:
        self.seen.append(request)
        operation = self.operation_for(request)
        if operation == "unknown":
            return Response(404, raw=b"<html><body>Not Found</body></html>", headers={"Content-Type": "text/html"})
        if not self._authorised(request):
            return _error(401, "Unauthorized request")
        if operation == "account_information":
            return Response(200, {**self.account, "ErrorMessage": ""})
        return self._process(request)

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, code = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.user_name and code == self.license_code

    def _process(self, request: Request) -> Response:
        q = request.query
        languages = [w.strip().lower() for w in q.get("language", "english").split(",")]
        if not all(w in LANGUAGES for w in languages):
            return _error(400, "Invalid language parameter")
        formats = [f for f in q.get("outputformat", "").split(",") if f]
        if len(formats) > 2 or not all(f in FORMATS for f in formats):
            return _error(
                400, "Invalid outputformat parameter (at most two of pdf, pdfimg, doc, docx, xls, xlsx, rtf, txt)"
            )
        get_text = q.get("gettext", "false").lower() == "true"
        if not get_text and not formats:
            return _error(400, "Nothing to return: set gettext=true or an outputformat")
        if not request.body:
            return _error(400, "The input file is empty")
        if len(request.body) > MAX_BYTES:
            return _error(400, "The input file is larger than 100 MB")
        if request.body.startswith(b"%CORRUPT"):
            return Response(
                200, {"ErrorMessage": "Unable to process document", "AvailablePages": self.account["AvailablePages"]}
            )
        pages = request.body.decode("utf-8", errors="replace").split("\f")
        available = int(self.account["AvailablePages"])
        if len(pages) > available:
            return _error(402, "Not enough pages left in your subscription")
        self.account["AvailablePages"] = available - len(pages)
        self.account["LastProcessingTime"] = datetime.now().strftime("%-m/%-d/%Y %-I:%M:%S %p")
        self.effect("process_document")
        if q.get("newline") != "1":
            pages = [p.replace("\n", " ") for p in pages]
        task = uuid.uuid4().hex[:12]
        urls = [f"http://www.ocrwebservice.com/uploads/_restservice/{task}/output.{fmt}" for fmt in formats]
        return Response(
            200,
            {
                "ErrorMessage": "",
                "AvailablePages": self.account["AvailablePages"],
                "ProcessedPages": len(pages),
                "OCRText": [pages if get_text else []],
                "OCRWords": [],
                "OutputFileUrl": urls[0] if urls else "",
                "OutputFileUrl2": urls[1] if len(urls) > 1 else "",
                "TaskDescription": q.get("description", ""),
                "Reserved": [],
            },
        )
