"""Size limits for DialNexa webhook bodies and the fields kept from them, all in UTF-8 bytes.

Why bytes, never characters: every store that bounds us counts bytes. DynamoDB's
400 KB item limit counts the UTF-8 bytes of attribute names and values, Step
Functions' 256 KB state limit counts the UTF-8 bytes of the state's JSON, and a
Cyrillic letter is 2 bytes, a Japanese character 3, an emoji 4. A limit in
characters lets a 70-minute Russian call through ingest and then loses it in the
ledger.

Why these numbers:

* ``MAX_BODY_BYTES`` (256 KiB) is far above any real call body, including a long
  transcript (an hour of conversation is roughly 60,000 characters, 120 KB in
  Cyrillic), and far below API Gateway's 10 MB payload cap. Oversized bodies are
  refused before parsing, so a hostile body costs us nothing but the read.
* Field caps bound what is *stored* (the call record). A stored field is a
  substring of the body, so a record built from one accepted body is never larger
  than that body (plus key names); the ledger compresses a large record and
  guarantees :data:`CALL_RECORD_MAX_BYTES` (see :mod:`handoff.store`).
* The ``STATE_*`` caps bound what *travels* through the state machine in
  :class:`handoff.models.CallSummary`. They are measured on ASCII-escaped JSON
  (6 bytes per non-ASCII character in the worst case), so the summary stays under
  :data:`STATE_SUMMARY_MAX_BYTES` whichever JSON serialiser carries it.
"""

from __future__ import annotations

from typing import Final

MAX_BODY_BYTES: Final = 256 * 1024
"""Largest webhook body accepted (bytes); larger bodies get 413."""

MAX_CALL_ID_BYTES: Final = 256
"""A call id longer than this is malformed (DialNexa ids are ~20 characters)."""

MAX_FIELD_BYTES: Final = 512
"""Cap for short string fields (ids, numbers, status, reasons)."""

MAX_URL_BYTES: Final = 2048
"""Cap for URLs (pre-signed recording URLs carry long query strings)."""

MAX_TRANSCRIPT_BYTES: Final = MAX_BODY_BYTES
"""Cap for the stored transcript text: one body's worth (turns joined with roles cannot grow past it)."""

MAX_SUMMARY_BYTES: Final = 16_000
"""Cap for the stored call summary (DialNexa's summaries are a few sentences)."""

MAX_ANALYSIS_KEYS: Final = 50
"""At most this many post-call-analysis keys are kept (first ones in body order)."""

MAX_ANALYSIS_KEY_BYTES: Final = 128
"""Analysis keys longer than this are dropped (PCA names are short identifiers)."""

MAX_ANALYSIS_STRING_BYTES: Final = 4_000
"""Cap for one string value in the stored post-call analysis."""

MAX_ANALYSIS_DEPTH: Final = 4
"""Nested analysis values deeper than this are dropped."""

MAX_ANALYSIS_LIST_ITEMS: Final = 100
"""Lists inside the analysis keep at most this many items."""

MAX_PING_MESSAGE_BYTES: Final = 512
"""Cap for the verification ping's message text."""

CALL_COMPRESS_ABOVE_BYTES: Final = 32 * 1024
"""A call record whose UTF-8 JSON is larger than this is stored zlib-compressed (binary attribute)."""

CALL_RECORD_MAX_BYTES: Final = 320_000
"""The stored call (compressed when large) never exceeds this: DynamoDB's item limit is 400 KB,
the rest is room for the record's other attributes (events, outcome, action results)."""

STATE_SUMMARY_BYTES: Final = 2_000
"""Cap for the summary text carried in the state machine's CallSummary (ASCII-escaped bytes)."""

STATE_ANALYSIS_VALUE_BYTES: Final = 500
"""Cap for one analysis string carried in the CallSummary (ASCII-escaped bytes)."""

STATE_ANALYSIS_NESTED_BYTES: Final = 1_000
"""Nested analysis values whose compact ASCII-escaped JSON exceeds this are left out of the CallSummary."""

STATE_ANALYSIS_TOTAL_BYTES: Final = 30_000
"""All analysis carried in the CallSummary together (ASCII-escaped JSON); later keys are left out."""

STATE_SUMMARY_MAX_BYTES: Final = 40_000
"""What a CallSummary can weigh at most, ASCII-escaped: far under Step Functions' 256 KB, which leaves
room for match, decision, actions and review that join it in the state document."""

EXECUTION_NAME_MAX_CHARS: Final = 80
"""Step Functions execution names are at most 80 characters (all ASCII here, so also bytes)."""


def utf8_len(text: str) -> int:
    """Bytes of ``text`` in UTF-8."""
    return len(text.encode("utf-8", "surrogatepass"))


def clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")


def _escaped_char_len(char: str) -> int:
    code = ord(char)
    if code < 0x20:
        return 6  # \u00XX (or shorter \n, \t: 6 is the bound)
    if char in '"\\':
        return 2
    if code < 0x80:
        return 1
    return 12 if code > 0xFFFF else 6  # a surrogate pair of \uXXXX escapes


def escaped_len(text: str) -> int:
    """Bytes of ``text`` inside a JSON string with ASCII escaping (the most any serialiser writes)."""
    return sum(_escaped_char_len(c) for c in text)


def clip_escaped(text: str, max_bytes: int) -> str:
    """``text`` cut so its ASCII-escaped JSON form is at most ``max_bytes`` (never inside a character)."""
    total = 0
    for index, char in enumerate(text):
        total += _escaped_char_len(char)
        if total > max_bytes:
            return text[:index]
    return text
