"""JSON from the outside world, parsed with the same limits on every Python.

``json.loads`` gives up on deep nesting where the interpreter's C stack says so:
near 1,000 levels on Python 3.11, near 20,000 on 3.13 (Lambda's runtime), where
a 2,000-level body parses and the recursion bites later, deep inside whatever
walks it. pydantic-core's parser (already in the layer) stops at a fixed 200
levels on any interpreter, in Rust, and returns the same Python values.
"""

from __future__ import annotations

from typing import Any

import pydantic_core

MAX_NESTING = 200  # pydantic-core's fixed recursion limit; no body Handoff reads nests past ~6


class JSONBodyError(ValueError):
    """The body is not JSON Handoff will read; the message names why, never echoing the body."""


def parse_json(raw: bytes | str) -> Any:
    """Parse ``raw`` or raise :class:`JSONBodyError` naming the problem."""
    try:
        return pydantic_core.from_json(raw or b"null", allow_inf_nan=False)
    except ValueError as exc:
        message = str(exc)
        if "recursion limit" in message:
            raise JSONBodyError(f"nested too deeply (more than {MAX_NESTING} levels)") from None
        raise JSONBodyError(message) from None
