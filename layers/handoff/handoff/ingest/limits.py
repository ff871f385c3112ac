"""Size limits for DialNexa webhook bodies and the fields kept from them.

Why these numbers:

* ``MAX_BODY_BYTES`` (256 KiB) is far above any real call body, including a long
  transcript (an hour of conversation is roughly 60,000 characters), and far
  below API Gateway's 10 MB payload cap. Every stored field is derived from one
  body and capped below, so a call record built from it stays well under
  DynamoDB's 400 KB item limit. Oversized bodies are refused before parsing, so
  a hostile body costs us nothing but the read.
* Field caps bound what is *stored* (the call record); the ``STATE_*`` caps bound
  what *travels* through the state machine in :class:`handoff.models.CallSummary`,
  whose whole payload must stay far below Step Functions' 256 KB state limit.
"""

from __future__ import annotations

from typing import Final

MAX_BODY_BYTES: Final = 256 * 1024
"""Largest webhook body accepted (bytes); larger bodies get 413."""

MAX_CALL_ID_CHARS: Final = 256
"""A call id longer than this is malformed (DialNexa ids are ~20 characters)."""

MAX_FIELD_CHARS: Final = 512
"""Cap for short string fields (ids, numbers, status, reasons)."""

MAX_URL_CHARS: Final = 2048
"""Cap for URLs (pre-signed recording URLs carry long query strings)."""

MAX_TRANSCRIPT_CHARS: Final = 100_000
"""Cap for the stored transcript text (about two hours of conversation)."""

MAX_SUMMARY_CHARS: Final = 8_000
"""Cap for the stored call summary (DialNexa's summaries are a few sentences)."""

MAX_ANALYSIS_KEYS: Final = 50
"""At most this many post-call-analysis keys are kept (first ones in body order)."""

MAX_ANALYSIS_KEY_CHARS: Final = 128
"""Analysis keys longer than this are dropped (PCA names are short identifiers)."""

MAX_ANALYSIS_STRING_CHARS: Final = 2_000
"""Cap for one string value in the stored post-call analysis."""

MAX_ANALYSIS_DEPTH: Final = 4
"""Nested analysis values deeper than this are dropped."""

MAX_ANALYSIS_LIST_ITEMS: Final = 100
"""Lists inside the analysis keep at most this many items."""

MAX_PING_MESSAGE_CHARS: Final = 512
"""Cap for the verification ping's message text."""

STATE_SUMMARY_CHARS: Final = 2_000
"""Cap for the summary text carried in the state machine's CallSummary."""

STATE_ANALYSIS_VALUE_CHARS: Final = 500
"""Cap for one analysis string carried in the CallSummary."""

STATE_ANALYSIS_NESTED_CHARS: Final = 1_000
"""Nested analysis values whose compact JSON exceeds this are left out of the CallSummary."""

EXECUTION_NAME_MAX_CHARS: Final = 80
"""Step Functions execution names are at most 80 characters."""
