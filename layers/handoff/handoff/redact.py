"""Mask payment details, bank details, tax identifiers and known secrets.

Why one module: card numbers, bank details and tax identifiers must never leave
in a notification, a partner note or a log line (DESIGN "notify"), so every
outbound string goes through :func:`redact_text` and every log record through
:class:`RedactingFilter`, rather than each caller remembering what to hide.

Why validated detection: masking every long digit run would also mask order
numbers, phone numbers and invoice ids a teammate needs. Numbers are masked when
they pass the check their scheme defines (Luhn for cards, ISO 7064 for IBANs,
the national check digits for VAT and tax numbers, via python-stdnum); codes
with no checksum (CVV, unformatted bank accounts) are masked only right after
the words that announce them ("cvv", "security code", "account number").

Masks keep the text's length and separators, keep the last four digits of cards
and IBANs (so a human can still correlate with a statement) and are idempotent:
redacting twice gives the same text as redacting once.

Why it is fast: a screen (:func:`_plan`) reads the text once at C speed (one
scan for dense digit clusters, one byte translate + split for the words) and
each pass then looks only where it could find something: the digit passes at
clusters of 7+ digits (cards at 13+, national layouts at 9+, IBANs and VAT
numbers where letters sit before the digits), the keyword pass only when a
trigger word's first word is present, the spoken-digit pass only with 13+
digit words or a card word. Validators (python-stdnum, imported on first need)
see only those candidates. Masks go into character lists joined once. Every
pattern is precompiled, bounded and free of nested quantifiers, and matching
runs case-sensitively on a lower-cased copy. A 30 KB transcript with a phone
number every 250 characters takes about 0.9 ms on a slow 2-core machine (2.8 ms
before the screen), a text with no digits and no trigger word a few tens of
microseconds; adversarial input (30 KB of "1 1 1 ...") stays linear.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Final

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from handoff.connectors.redaction import MASK, SECRET_PARAM_NAMES

__all__ = [
    "SECRET_MASK",
    "RedactingFilter",
    "forget_secrets",
    "install_log_redaction",
    "redact_text",
    "redact_value",
    "register_secret",
]

SECRET_MASK: Final = MASK
STAR: Final = "*"
KEEP_LAST: Final = 4
MIN_SECRET_LENGTH: Final = 6
"""Shorter registered values would mask ordinary words; real keys are far longer."""
CVV_WINDOW: Final = 30
"""Characters after a card word in which a 3-4 digit code is taken for a CVV."""
CONTEXT_WINDOW: Final = 40
"""Characters after a bank or tax word in which the number it announces is looked for."""
WINDOW_BEFORE: Final = 96
"""Characters before a digit that may hold the keyword announcing it: a keyword
(at most 35 characters) whose context window (40) ends where a token starts, the
token itself starting at most 6 letters before its first digit."""
WINDOW_AFTER: Final = 24
"""Characters after a digit that may still belong to its number (IBAN, VAT suffix letters)."""
MAX_DEPTH: Final = 32

SENSITIVE_KEYS: Final = frozenset(
    {
        # A bare "key" is too common a field name (idempotency keys, S3 keys) to blank.
        *(SECRET_PARAM_NAMES - {"key"}),
        "api_secret",
        "client_secret",
        "webhook_secret",
        "signing_secret",
        "x_dialnexa_signature",
        "card_number",
        "cardnumber",
        "pan",
        "cvv",
        "cvc",
        "security_code",
    }
)
"""Mapping keys whose value :func:`redact_value` masks whole, whatever it looks like."""

# --------------------------------------------------------------------------- patterns
# All patterns below run on the lower-cased text ("view"); digits are unchanged by it.
# ASCII: \d must not match other scripts' digits (the Luhn arithmetic assumes 0-9).
_DIGITS = re.compile(r"\d+", re.ASCII)
_FOREIGN_DIGIT = re.compile(r"(?![0-9])\d")  # Unicode mode on purpose: Arabic-Indic, Devanagari ...
_ALNUM_TOKEN = re.compile(r"[a-z0-9]+", re.ASCII)

# Digit runs that may be a card: digit groups separated by one space or dash, or a slash
# a caller or a form put between halves ("4111 1111 / 1111 1111").
_DIGIT_RUN = re.compile(r"\d+(?:(?:[ \-]| ?/ ?)\d+)*", re.ASCII)

_LETTER_PAIR = re.compile(r"[a-z]{2}", re.ASCII)
_IBAN_CANDIDATE = re.compile(r"\b[a-z]{2}\d{2}(?:[ \-]?[a-z0-9]){11,32}", re.ASCII)

# stdnum.eu.vat.MEMBER_STATES without "gr" (Greek VAT numbers are prefixed "el"), plus "el" and
# "gb"; written out so that importing this module loads no validator (a test keeps it in sync).
EU_VAT_MEMBER_STATES: Final = frozenset(
    "at be bg cy cz de dk ee es fi fr gr hr hu ie it lt lu lv mt nl pl pt ro se si sk xi".split()  # noqa: SIM905
)
_VAT_PREFIXES: Final = ("che", *sorted({cc for cc in EU_VAT_MEMBER_STATES if cc != "gr"} | {"el", "gb"}))
_VAT_PREFIX = re.compile(r"\b(?:" + "|".join(_VAT_PREFIXES) + r")", re.ASCII)
"""A VAT country prefix at a word start: the screen for the VAT pass (its candidates all start with one)."""
_VAT_CANDIDATE = re.compile(
    r"\b(?P<cc>" + "|".join(_VAT_PREFIXES) + r")[ \-]?(?=[a-z]?[ .\-]?\d)(?P<body>[a-z0-9](?:[ .\-]?[a-z0-9]){7,14})",
    re.ASCII,
)

# Layouts whose own check digits vouch for them, no keyword needed: Belgian and
# Spanish domestic bank accounts, Norwegian kontonummer, US SSN and EIN. The
# alternatives cannot match at the same position, so one scan serves all five.
_NATIONAL = re.compile(
    r"(?P<be>\d{3}-\d{7}-\d{2})"
    r"|(?P<es>\d{4}[ \-]?\d{4}[ \-]?\d{2}[ \-]?\d{10})"
    r"|(?P<no>\d{4}\.\d{2}\.\d{5})"
    r"|(?P<ssn>\d{3}(?P<sep>[\- ])\d{2}(?P=sep)\d{4})"
    r"|(?P<ein>\d{2}-\d{7})"
    r"(?![a-z0-9*]|[\-.]\d)",
    re.ASCII,
)

# Unicode look-behind on purpose (as str.isalnum): a number glued to any script's letter is part of a word.
_NATIONAL_START = re.compile(r"(?<![^\W_]|[*\-.])(?a:" + _NATIONAL.pattern + ")")

_CARD_WORDS = (
    r"cvv2?|cvc2?|csc|security\s+code|card\s+verification(?:\s+(?:code|value|number))?"
    r"|verification\s+code|three\s+digits\s+on\s+the\s+back"
)
_BANK_WORDS = (
    r"iban|bank\s+account|bank\s+details|account(?:\s+(?:number|no|nr))?|acct|routing(?:\s+number)?"
    r"|sort\s+code|aba|bsb|rekeningnummer|kontonummer|num[eé]ro\s+de\s+compte"
)
_TAX_WORDS = (
    r"ssn|social\s+security(?:\s+number)?|tax\s*(?:id|number|identification(?:\s+number)?|payer\s+id)"
    r"|tin|ein|itin|vat(?:\s+(?:id|number|no|nr))?|btw(?:[\s\-]*nummer)?|tva|ust[\s\-]*id(?:nr)?|iva|nif"
    r"|steuer(?:nummer|[\s\-]*id(?:nr)?)|fiscal\s+code|codice\s+fiscale|bsn|rijksregisternummer"
    r"|national\s+(?:number|insurance(?:\s+number)?|id)"
)
_KEYWORDS = re.compile(rf"\b(?:(?P<card>{_CARD_WORDS})|(?P<bank>{_BANK_WORDS})|(?P<tax>{_TAX_WORDS}))\b", re.ASCII)
_CARD_KEYWORDS = re.compile(rf"\b(?:{_CARD_WORDS})\b", re.ASCII)

_CVV_TOKEN = re.compile(r"(?<![a-z0-9*])(?:[\d*]{3,4}|[\d*](?:[ \-][\d*]){2,3})(?![a-z0-9*])", re.ASCII)
_BANK_TOKEN = re.compile(r"(?<![a-z0-9*])[\d*](?:[ .\-/]?[\d*]){5,33}", re.ASCII)
_TAX_TOKEN = re.compile(r"(?<![a-z0-9*])(?=[a-z]{0,6}[\d*])[0-9a-z*](?:[ .\-/]?[0-9a-z*]){5,20}", re.ASCII)

_SPOKEN_DIGITS: Final = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_SPOKEN_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_SPOKEN_SEP = r"[ ,\-]{1,2}"
_SPOKEN_RUN = re.compile(rf"\b{_SPOKEN_WORD}(?:{_SPOKEN_SEP}{_SPOKEN_WORD})+\b", re.ASCII)
_SPOKEN_WORD_RE = re.compile(_SPOKEN_WORD, re.ASCII)
_SPOKEN_CVV_OR_MASK = re.compile(rf"\b{_SPOKEN_WORD}(?:{_SPOKEN_SEP}{_SPOKEN_WORD}){{2,3}}\b|\*+", re.ASCII)

_SECRET_PARAM = re.compile(
    r"(?<![\w])(" + "|".join(sorted(SECRET_PARAM_NAMES, key=len, reverse=True)) + r")=[^&\s\"']+",
    re.IGNORECASE,
)
# A spoken or typed credential: "my password is hunter2", "PIN: 4821", "the passcode is four eight two one".
# Only after "is"/"was"/":"/"=" so "password reset" or "PIN pad" stay readable.
_CREDENTIAL = re.compile(
    r"\b(?P<word>pass(?:word|code|phrase)|pin(?:\s+(?:code|number))?|security\s+answer)"
    r"(?P<glue>\s+(?:is|was)\s*:?\s*|\s*[:=]\s*)"
    rf"(?P<value>{_SPOKEN_WORD}(?:{_SPOKEN_SEP}{_SPOKEN_WORD})*\b|[^\s*:=]\S{{0,63}})",
    re.IGNORECASE | re.ASCII,
)
_AUTH_HEADER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE)
# Credentials with a published shape, masked even where this environment does not hold the value: ingest writes
# the call record and the execution input but may read no partner secret (least privilege, issue 12), and notify
# reads only Slack's. Shapes: Slack tokens xoxb-/xoxp-/xoxa-/xoxr-/xoxe-/xoxs- and app-level xapp-
# (https://api.slack.com/authentication/token-types); webhook secrets whsec_..., the form DialNexa's docs show
# (dialnexa.mintlify.app/api-reference/webhooks/create); secret and restricted keys sk_/rk_ live/test, a widespread
# payment-API form.
# A key with no shape (Planyo's, Billit's, Plisio's) cannot be told from an ordinary token: docs/data-lifecycle.md.
_SHAPED_SECRET = re.compile(
    r"\b(?:xox[abeoprs]-|xapp-)[A-Za-z0-9-]{10,}"
    r"|\bwhsec_[A-Za-z0-9_+/=-]{8,}"
    r"|\b[rs]k_(?:live|test)_[A-Za-z0-9_]{8,}"
)
_SHAPED_HINTS: Final = ("xox", "xapp-", "whsec_", "k_live_", "k_test_")

# --------------------------------------------------------------------------- secrets
_secrets_lock = threading.Lock()
_secret_state: tuple[tuple[str, ...], re.Pattern[str] | None] = ((), None)
"""Registered values and their alternation, swapped as one tuple so readers need no lock."""


def register_secret(value: str) -> None:
    """Mask this exact value (a webhook secret, an API key) wherever it appears from now on.

    Values shorter than :data:`MIN_SECRET_LENGTH` are ignored: masking them would
    blank ordinary words, and no real credential is that short.
    """
    global _secret_state
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        values = _secret_state[0]
        if value in values:
            return
        ordered = tuple(sorted((*values, value), key=len, reverse=True))
        _secret_state = (ordered, re.compile("|".join(re.escape(v) for v in ordered)))


def forget_secrets() -> None:
    """Drop every registered secret (tests; a warm Lambda keeps them for its life)."""
    global _secret_state
    with _secrets_lock:
        _secret_state = ((), None)


# --------------------------------------------------------------------------- helpers
Span = tuple[int, int]


def _lower_same_length(text: str) -> str:
    """``text.lower()`` with other scripts' digits read as 0-9, offsets unchanged.

    Characters whose lower case is longer stay as they are: offsets in the view
    must be offsets in the text.
    """
    lower = text.lower()
    if len(lower) != len(text):
        lower = "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)
    if not lower.isascii():
        lower = _FOREIGN_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group())), lower)
    return lower


class _Masker:
    """The text being redacted, and its lower-cased view that all matching runs on.

    Masks are written into character lists (created at the first mask, so a text
    with nothing to mask is never copied) and joined back into strings only when a
    pass next reads ``view`` or the caller reads ``text``: several masks in a row
    cost one join, not two string rebuilds each, and every pass still sees the
    masks of the passes before it.
    """

    __slots__ = ("_text", "_text_chars", "_view", "_view_chars")

    def __init__(self, text: str) -> None:
        self._text = text
        self._view = _lower_same_length(text)
        self._text_chars: list[str] | None = None
        self._view_chars: list[str] | None = None

    @property
    def text(self) -> str:
        if self._text_chars is not None:
            self._text = "".join(self._text_chars)
            self._text_chars = None
        return self._text

    @property
    def view(self) -> str:
        if self._view_chars is not None:
            self._view = "".join(self._view_chars)
            self._view_chars = None
        return self._view

    def mask(self, start: int, end: int, *, keep_last: int = 0, keep_first: int = 0) -> None:
        """Replace letters and digits in ``[start, end)`` by ``*``, keeping separators.

        ``keep_first``/``keep_last`` leave that many alphanumerics visible at either end.
        """
        view_chars = self._view_chars if self._view_chars is not None else list(self._view)
        positions = [i for i in range(start, end) if view_chars[i].isalnum()]
        hide = positions[keep_first : len(positions) - keep_last if keep_last else None]
        if not hide:
            return
        text_chars = self._text_chars if self._text_chars is not None else list(self._text)
        for i in hide:
            text_chars[i] = STAR
            view_chars[i] = STAR
        self._text_chars, self._view_chars = text_chars, view_chars


def _keyword_windows(view: str) -> list[Span]:
    """The stretches around digits that keywords announcing a number may sit in.

    The keyword scan looks only in windows from :data:`WINDOW_BEFORE` characters
    before a digit to :data:`WINDOW_AFTER` after it, merged, which holds every
    keyword whose context window can reach a digit.
    """
    windows: list[list[int]] = []
    for m in _DIGITS.finditer(view):
        start = max(0, m.start() - WINDOW_BEFORE)
        end = m.end() + WINDOW_AFTER
        if windows and start <= windows[-1][1]:
            windows[-1][1] = end
        else:
            windows.append([start, end])
    return [(start, _token_end(view, end)) for start, end in windows]


def _token_end(text: str, stop: int) -> int:
    """``stop`` moved past the rest of the letters, digits or masks it falls in (bounded)."""
    size = len(text)
    if stop >= size:
        return size
    limit = min(size, stop + 40)
    while stop < limit and (text[stop].isalnum() or text[stop] == STAR):
        stop += 1
    return stop


def _after_mask(view: str, start: int) -> bool:
    """Whether ``start`` directly follows a mask: such text is the tail of something masked."""
    return start > 0 and view[start - 1] == STAR


def _prefixes(view: str, start: int, end: int, min_len: int, max_len: int) -> list[tuple[int, str]]:
    """Token-aligned prefixes of ``view[start:end]`` as (end offset, compact upper-case text).

    Longest first, and only those whose compact length is within bounds, so the
    validators see each plausible reading once.
    """
    out: list[tuple[int, str]] = []
    compact = ""
    for token in _ALNUM_TOKEN.finditer(view, start, end):
        compact += token.group()
        if len(compact) > max_len:
            break
        if len(compact) >= min_len:
            out.append((token.end(), compact.upper()))
    out.reverse()
    return out


_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _find_card_spans(groups: list[str]) -> list[tuple[int, int]]:
    """Leftmost, then longest, runs of whole groups that form a Luhn-valid card number.

    Returns (first, last) group indexes; scanning resumes after each hit, so the
    kept last group can never start a second hit (this keeps masking idempotent).
    The Luhn sum is kept incrementally for both parities while digits are
    appended (a long run of short groups stays linear); stdnum confirms each hit.
    """
    hits: list[tuple[int, int]] = []
    s = 0
    n = len(groups)
    while s < n:
        best = -1
        length = 0
        plain = doubled = 0  # Luhn sum if the last digit is undoubled / doubled
        for e in range(s, n):
            for ch in groups[e]:
                d = ord(ch) - 48
                plain, doubled = doubled + d, plain + _DOUBLED[d]
            length += len(groups[e])
            if length > 19:
                break
            if length >= 13 and plain % 10 == 0 and groups[s][0] != "0":
                digits = "".join(groups[s : e + 1])
                if _std_valid("luhn", digits):
                    best = e
        if best >= 0:
            hits.append((s, best))
            s = best + 1
        else:
            s += 1
    return hits


@cache
def _std(module: str) -> Any:
    """A python-stdnum module, imported the first time a candidate needs its check.

    Importing all fifteen costs ~30 ms of every cold start; most texts never
    reach a validator (only validated-looking digit clusters do).
    """
    return importlib.import_module(f"stdnum.{module}")


def _std_valid(module: str, number: str) -> bool:
    return bool(_std(module).is_valid(number))


@lru_cache(maxsize=2048)
def _iban_valid(number: str) -> bool:
    """ISO 7064 mod 97 screened by hand, then stdnum's structure check.

    stdnum's country rules are off: an IBAN of a bank stdnum does not list is
    still an IBAN and still must not leak.
    """
    if not 15 <= len(number) <= 34:
        return False
    rearranged = number[4:] + number[:4]
    try:
        if int("".join(str(int(c, 36)) for c in rearranged)) % 97 != 1:
            return False
    except ValueError:
        return False
    return bool(_std("iban").is_valid(number, check_country=False))


@lru_cache(maxsize=2048)
def _vat_valid(cc: str, number: str) -> bool:
    if sum(c.isdigit() for c in number) < 7 or not 8 <= len(number) - len(cc) <= 14:
        return False
    if cc == "CHE":
        return _std_valid("ch.vat", number)
    if cc == "GB":
        return _std_valid("gb.vat", number)
    return _std_valid("eu.vat", number)


_TAX_VALIDATORS: Final = ("us.tin", "nl.bsn", "be.nn", "fr.nir", "de.idnr", "it.codicefiscale")
"""stdnum modules whose ``is_valid`` vouches for a bare tax number, tried in this order."""


@lru_cache(maxsize=2048)
def _is_tax_id(number: str) -> bool:
    """A bare (unprefixed) tax number: valid for some EU VAT scheme or a common national id."""
    if not 8 <= len(number) <= 16 or sum(c.isdigit() for c in number) < 7:
        return False
    if any(_std_valid(module, number) for module in _TAX_VALIDATORS):
        return True
    return bool(_std("eu.vat").guess_country(number))


def _national_valid(kind: str, number: str) -> bool:
    digits = "".join(_DIGITS.findall(number))
    if kind == "be":
        return (int(digits[:10]) % 97 or 97) == int(digits[10:])
    return _std_valid({"es": "es.ccc", "no": "no.kontonr", "ssn": "us.ssn", "ein": "us.ein"}[kind], digits)


# --------------------------------------------------------------------------- passes
def _pass_secrets(text: str) -> str:
    """Registered secret values, secret query parameters and Authorization values.

    Substring checks first: a transcript rarely holds any, and ``in`` is far
    cheaper than a regex scan.
    """
    values, pattern = _secret_state
    if pattern is not None and any(value in text for value in values):
        text = pattern.sub(SECRET_MASK, text)
    if "=" in text:
        lower = text.lower()
        if any(f"{name}=" in lower for name in SECRET_PARAM_NAMES):
            text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={SECRET_MASK}", text)
    if any(hint in text for hint in _SHAPED_HINTS):
        text = _SHAPED_SECRET.sub(SECRET_MASK, text)
    lower = text.lower()
    if "earer" in lower or "asic" in lower:
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)} {SECRET_MASK}", text)
        lower = text.lower()
    if "pass" in lower or "pin" in lower or "security answer" in lower:
        # Length-preserving stars, like the other masks; a masked value starts with "*" and is never re-read.
        text = _CREDENTIAL.sub(lambda m: m.group("word") + m.group("glue") + STAR * len(m.group("value")), text)
    return text


def _pass_iban(m: _Masker, anchors: list[int]) -> None:
    """IBANs: two letters, two check digits, then the account; anchored on the check digits."""
    seen = -1
    for p in anchors:
        if p < 2 or p < seen:
            continue
        view = m.view
        cand = _IBAN_CANDIDATE.match(view, p - 2)
        if cand is None or _after_mask(view, cand.start()):
            continue
        for end, number in _prefixes(view, cand.start(), cand.end(), 15, 34):
            if _iban_valid(number):
                m.mask(cand.start(), end, keep_first=2, keep_last=KEEP_LAST)
                seen = end
                break


def _pass_cards(m: _Masker, anchors: list[int]) -> None:
    """Luhn-valid 13-19 digit numbers, in groups separated by spaces or dashes."""
    seen = -1
    for p in anchors:
        if p < seen:
            continue
        view = m.view
        run = _DIGIT_RUN.match(view, p)
        if run is None:
            continue
        seen = run.end()
        if run.end() - run.start() < 13:
            continue
        spans = [(g.start(), g.end()) for g in _DIGITS.finditer(view, run.start(), run.end())]
        # A run never starts right after a mask, nor one separator after it: that
        # is a masked card's kept last group, not the start of a new number.
        if _after_mask(view, p) or (p > 1 and view[p - 2] == STAR):
            spans = spans[1:]
        groups = [view[a:b] for a, b in spans]
        for head, last in _find_card_spans(groups):
            # Keep the last four from the last group only: a card's kept digits are
            # then always glued to a mask, so they can never start a new run.
            keep = min(KEEP_LAST, len(groups[last]))
            m.mask(spans[head][0], spans[last][1], keep_last=keep)


def _pass_vat(m: _Masker, anchors: list[int]) -> None:
    """Prefixed VAT numbers ("BE 0403.170.701"); the prefix sits at most five characters before a digit."""
    tried: set[int] = set()
    for p in anchors:
        for q in range(max(0, p - 5), p - 1):
            if q in tried:
                continue
            tried.add(q)
            view = m.view
            cand = _VAT_CANDIDATE.match(view, q)
            if cand is None or _after_mask(view, q):
                continue
            cc = cand.group("cc").upper()
            for end, body in _prefixes(view, cand.start("body"), cand.end("body"), 8, 14):
                if _vat_valid(cc, cc + body):
                    m.mask(cand.start("body"), end)
                    break


def _pass_national(m: _Masker, clusters: list[Span]) -> None:
    """Domestic bank account layouts and US tax numbers whose own check digits vouch for them.

    Searched per digit cluster; the look-behind admits only starts of digit runs not
    glued to a word, a mask, a dash or a dot.
    """
    for a, b in clusters:
        # endpos b + 2: the layouts' closing look-ahead reads two characters past the last digit.
        for cand in _NATIONAL_START.finditer(m.view, a, b + 2):
            kind = cand.lastgroup if cand.lastgroup != "sep" else "ssn"
            if kind is not None and _national_valid(kind, cand.group()):
                m.mask(cand.start(), cand.end(), keep_last=KEEP_LAST if kind in ("be", "es", "no") else 0)


def _first_token(view: str, after: int, token: re.Pattern[str], width: int) -> re.Match[str] | None:
    """The first candidate after a keyword, or None when it is already (partly) masked.

    Looking only at the first candidate, and skipping masks, is what keeps the
    context passes idempotent: a second run sees the mask first and stops there.
    """
    cand = token.search(view, after, _token_end(view, after + width))
    if cand is None or STAR in cand.group():
        return None
    return cand


def _pass_context(m: _Masker, windows: list[Span]) -> None:
    """Numbers with no checksum of their own, masked because of the words before them."""
    keywords: dict[str, list[int]] = {"card": [], "bank": [], "tax": []}
    view = m.view
    for kw in (kw for ws, we in windows for kw in _KEYWORDS.finditer(view, ws, we)):
        # Beside a mask is not a keyword: masking must not create keywords.
        if _after_mask(view, kw.start()) or (kw.end() < len(view) and view[kw.end()] == STAR):
            continue
        if kw.lastgroup is not None:
            keywords[kw.lastgroup].append(kw.end())
    for after in keywords["card"]:
        if (cand := _first_token(m.view, after, _CVV_TOKEN, CVV_WINDOW)) is not None:
            m.mask(cand.start(), cand.end())
    for after in keywords["bank"]:
        cand = _first_token(m.view, after, _BANK_TOKEN, CONTEXT_WINDOW)
        if cand is not None and sum(c.isdigit() for c in cand.group()) >= 6:
            m.mask(cand.start(), cand.end(), keep_last=KEEP_LAST)
    for after in keywords["tax"]:
        view = m.view
        if (cand := _first_token(view, after, _TAX_TOKEN, CONTEXT_WINDOW)) is None:
            continue
        for end, number in _prefixes(view, cand.start(), cand.end(), 8, 16):
            if _is_tax_id(number):
                m.mask(cand.start(), end)
                break


def _pass_spoken(m: _Masker, *, cards: bool = True, cvv: bool = True) -> None:
    """Card numbers and CVVs read out as words ("four two four two ..."), masked whole."""
    view = m.view
    for run in _SPOKEN_RUN.finditer(view) if cards else ():
        words = list(_SPOKEN_WORD_RE.finditer(view, run.start(), run.end()))
        if len(words) < 13:
            continue
        groups = [_SPOKEN_DIGITS[w.group()] for w in words]
        for first, last in _find_card_spans(groups):
            m.mask(words[first].start(), words[last].end())
    for kw in _CARD_KEYWORDS.finditer(m.view) if cvv else ():
        view = m.view
        cand = _SPOKEN_CVV_OR_MASK.search(view, kw.end(), _token_end(view, kw.end() + CVV_WINDOW))
        if cand is not None and STAR not in cand.group():
            m.mask(cand.start(), cand.end())


# --------------------------------------------------------------------------- pre-filter
# Which of the passes can find anything in this text, decided at C speed (one scan for dense
# digit clusters, one translate + split for the words) so that a text with nothing sensitive
# costs a few tens of microseconds per 30 KB and only candidates reach the validators.

_DENSE_DIGITS = re.compile(r"[0-9](?:[^0-9]{0,8}+[0-9]){6,}")
"""At least 7 digits with at most 8 other characters between neighbours: every number the
digit passes mask is one (cards 13-19 digits, national layouts 9+, IBANs and VAT numbers 7+
with at most a bank code or a few letters between their digit groups)."""
_NON_WORD_BYTES: Final = bytes(c for c in range(256) if not (chr(c).isalnum() or c == ord("_")))
_WORDS_ONLY: Final = bytes.maketrans(_NON_WORD_BYTES, b" " * len(_NON_WORD_BYTES))
"""Non-word bytes to spaces: ``ascii_view.translate(_WORDS_ONLY).split()`` are its ``\\b``-words."""
_DIGITS_AS_ZERO: Final = bytes.maketrans(b"0123456789", b"0" * 10)
KEYWORD_FIRST_WORDS: Final = frozenset(
    {
        # card words
        *("cvv", "cvv2", "cvc", "cvc2", "csc", "security", "card", "verification", "three"),
        # bank words
        *("iban", "bank", "account", "acct", "routing", "sort", "aba", "bsb", "rekeningnummer"),
        *("kontonummer", "numero"),
        # tax words
        *("ssn", "social", "tax", "taxid", "taxnumber", "taxidentification", "taxpayer", "tin", "ein"),
        *("itin", "vat", "btw", "btwnummer", "tva", "ust", "ustid", "ustidnr", "iva", "nif", "steuer"),
        *("steuernummer", "steuerid", "steueridnr", "fiscal", "codice", "bsn", "rijksregisternummer"),
        "national",
    }
)
"""The first word of every phrase :data:`_KEYWORDS` matches (a property test keeps it so)."""
CARD_FIRST_WORDS: Final = frozenset({"cvv", "cvv2", "cvc", "cvc2", "csc", "security", "card", "verification", "three"})
SPOKEN_CARD_MIN_WORDS: Final = 13
"""A card read out as words is at least 13 digit words long."""


_KEYWORD_FIRST_BYTES: Final = frozenset(w.encode() for w in KEYWORD_FIRST_WORDS)
_CARD_FIRST_BYTES: Final = frozenset(w.encode() for w in CARD_FIRST_WORDS)
_SPOKEN_BYTES: Final = frozenset(w.encode() for w in _SPOKEN_DIGITS)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which passes can find anything in a text, and where (digit-run starts) the digit passes look."""

    iban: list[int]
    cards: list[int]
    vat: list[int]
    national: list[Span]
    keywords: bool
    spoken_cards: bool
    spoken_cvv: bool


def _run_starts(view: str, spans: list[Span]) -> list[int]:
    return [run.start() for a, b in spans for run in _DIGITS.finditer(view, a, b)]


def _unscreened(view: str) -> _Plan:
    """Every pass everywhere: what the screen must be equivalent to (the tests compare the two)."""
    starts = _run_starts(view, [(0, len(view))])
    return _Plan(starts, starts, starts, [(0, len(view))], keywords=True, spoken_cards=True, spoken_cvv=True)


_NOTHING: Final = _Plan([], [], [], [], keywords=False, spoken_cards=False, spoken_cvv=False)


def _plan(view: str) -> _Plan:
    """Screen the text once; each pass then sees only where it could mask something.

    Every screen is a necessary condition read on the text before any mask (masks
    only ever remove letters and digits), so it never hides a number: cards need 13
    digits in their cluster, the national layouts 9, an IBAN two letters right before
    its check digits, a VAT number its country code within five characters before;
    the keyword pass needs a trigger phrase's first word, spoken cards 13 digit words,
    a spoken CVV a card word. A log line with none of these costs a couple of
    microseconds.
    """
    if not view.isascii():
        # Other scripts' letters are not \b word characters: the word screen would not be exact.
        return _digit_plan(view, keywords=True, spoken_cards=True, spoken_cvv=True)
    raw = view.encode("ascii")
    words = raw.translate(_WORDS_ONLY).split()
    keywords = not _KEYWORD_FIRST_BYTES.isdisjoint(words)
    spoken_cards = spoken_cvv = False
    if not _SPOKEN_BYTES.isdisjoint(words):
        spoken_cards = sum(words.count(w) for w in _SPOKEN_BYTES) >= SPOKEN_CARD_MIN_WORDS
        spoken_cvv = keywords and not _CARD_FIRST_BYTES.isdisjoint(words)
    if raw.translate(_DIGITS_AS_ZERO).count(b"0") < 7:
        if keywords or spoken_cards or spoken_cvv:
            return _Plan([], [], [], [], keywords=keywords, spoken_cards=spoken_cards, spoken_cvv=spoken_cvv)
        return _NOTHING
    return _digit_plan(view, keywords=keywords, spoken_cards=spoken_cards, spoken_cvv=spoken_cvv)


def _digit_plan(view: str, *, keywords: bool, spoken_cards: bool, spoken_cvv: bool) -> _Plan:
    """Where the digit passes look: the runs of clusters of 7+ digits each pass could mask."""
    clusters = [m.span() for m in _DENSE_DIGITS.finditer(view)]
    iban: list[Span] = []
    vat: list[int] = []
    for a, b in clusters:
        if _LETTER_PAIR.search(view, a, b) is not None:
            iban.append((a, b))
            vat += _run_starts(view, [(a, b)])
        elif _LETTER_PAIR.search(view, max(0, a - 5), a) is not None:
            # The VAT pass tries a candidate at each of the five characters before the digits, and
            # every candidate starts with a country prefix at a word start: no prefix, no try.
            if _VAT_PREFIX.search(view, max(0, a - 5), a) is not None:
                vat.append(a)  # only the first run can follow a country code (no letters inside)
            if _LETTER_PAIR.match(view, max(0, a - 2), a) is not None:
                iban.append((a, b))
    # A span's length bounds its digit count: cards need 13 digits, the national layouts 9.
    return _Plan(
        iban=_run_starts(view, iban),
        cards=_run_starts(view, [(a, b) for a, b in clusters if b - a >= 13]),
        vat=vat,
        national=[(a, b) for a, b in clusters if b - a >= 9],
        keywords=keywords,
        spoken_cards=spoken_cards,
        spoken_cvv=spoken_cvv,
    )


# --------------------------------------------------------------------------- public API
def redact_text(text: str, *, _screen: Callable[[str], _Plan] = _plan) -> str:
    """Return ``text`` with cards, bank details, tax ids, CVVs and known secrets masked.

    Length-preserving for everything but secrets (replaced by ``***``); idempotent.
    """
    if not text:
        return text
    masker = _Masker(_pass_secrets(text))
    plan = _screen(masker.view)
    # Each pass reads the text as the previous passes left it, so their masks are
    # visible (and never matched again) in the next one. IBANs go before cards so
    # an IBAN's digits are not taken for a card; cards before VAT for the same reason.
    _pass_iban(masker, plan.iban)
    _pass_cards(masker, plan.cards)
    _pass_vat(masker, plan.vat)
    _pass_national(masker, plan.national)
    if plan.keywords:
        _pass_context(masker, _keyword_windows(masker.view))
    if plan.spoken_cards or plan.spoken_cvv:
        _pass_spoken(masker, cards=plan.spoken_cards, cvv=plan.spoken_cvv)
    return masker.text


def _normalise_key(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def redact_value(obj: Any, _depth: int = 0) -> Any:
    """Redact every string inside dicts, lists, tuples, sets and pydantic models.

    Values under a known secret key (``api_key``, ``password``, ``cvv`` ...) are
    masked whole. Other objects (an int card number, an exception) come back as
    their masked ``str()`` when that text holds something to mask, else unchanged.
    """
    if _depth > MAX_DEPTH:
        return "[depth limit]"
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, float):
        return obj
    if isinstance(obj, BaseModel):
        return redact_value(obj.model_dump(mode="json"), _depth + 1)
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str) and _normalise_key(key) in SENSITIVE_KEYS and value not in (None, ""):
                out[redact_text(key)] = SECRET_MASK
            else:
                out[redact_text(key) if isinstance(key, str) else key] = redact_value(value, _depth + 1)
        return out
    if isinstance(obj, list):
        return [redact_value(v, _depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_value(v, _depth + 1) for v in obj)
    if isinstance(obj, set | frozenset):
        return {redact_value(v, _depth + 1) for v in obj}
    # Anything else (an exception, a datetime, a Decimal) is logged through str():
    # keep the object unless its text holds something to mask.
    as_text = str(obj)
    redacted = redact_text(as_text)
    return obj if redacted == as_text else redacted


# --------------------------------------------------------------------------- logging
_STANDARD_RECORD_ATTRS: Final = frozenset(
    {*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime", "taskName"}
)


class RedactingFilter(logging.Filter):
    """Redact a record's message, arguments, extra fields and exception text in place.

    A filter rather than a habit: attached to the handler, it covers every logger
    that propagates to it, including Powertools child loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            if record.args:
                try:
                    message = record.getMessage()
                except (TypeError, ValueError):
                    message = f"{record.msg} {record.args!r}"
                record.msg = redact_text(message)
                record.args = None
            else:
                record.msg = redact_text(record.msg)
        else:
            record.msg = redact_value(record.msg)
            if record.args:
                record.args = redact_value(record.args)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_RECORD_ATTRS:
                if _normalise_key(key) in SENSITIVE_KEYS and value not in (None, ""):
                    setattr(record, key, SECRET_MASK)
                else:
                    setattr(record, key, redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _wrap_serializer(formatter: logging.Formatter) -> None:
    """Redact the final structured log of a Powertools formatter before it is serialised.

    The filter cannot see what the formatter adds itself: keys from
    ``append_keys`` and the exception it formats from ``exc_info``.
    """
    serializer = getattr(formatter, "json_serializer", None)
    if serializer is None or getattr(serializer, "_handoff_redacting", False):
        return

    def redacting_serializer(log: Any) -> str:
        return str(serializer(redact_value(log)))

    redacting_serializer._handoff_redacting = True  # type: ignore[attr-defined]
    formatter.json_serializer = redacting_serializer  # type: ignore[attr-defined]


def _existing_filter(filterer: logging.Filterer) -> RedactingFilter | None:
    return next((f for f in filterer.filters if isinstance(f, RedactingFilter)), None)


def install_log_redaction(logger: Logger | logging.Logger) -> RedactingFilter:
    """Attach redaction to a Powertools ``Logger`` (or a stdlib logger); safe to call twice.

    On a Powertools logger the filter goes on its registered handler (child loggers
    share the parent's handler; a logger-level filter would miss their records) and
    the handler's JSON serializer is wrapped so appended keys and formatted
    exceptions are masked too. Without a handler yet (an orphan child logger) the
    filter goes on the logger itself.
    """
    if isinstance(logger, Logger):
        std_logger = logging.getLogger(logger.name)
        registered: logging.Handler | None = logger.registered_handler
        handlers = [registered] if registered is not None else []
    else:
        std_logger = logger
        handlers = list(logger.handlers)
    if not handlers:
        found = _existing_filter(std_logger)
        if found is None:
            found = RedactingFilter()
            std_logger.addFilter(found)
        return found
    installed: RedactingFilter | None = None
    for handler in handlers:
        existing = _existing_filter(handler)
        if existing is None:
            existing = installed or RedactingFilter()
            handler.addFilter(existing)
        installed = installed or existing
        if handler.formatter is not None:
            _wrap_serializer(handler.formatter)
    assert installed is not None
    return installed
