"""Normalise what a call gives (phones, e-mails, names, ids) into comparable values.

Nothing a caller or the post-call analysis says is trusted until it is in one
canonical form: phone numbers in E.164, e-mails validated and case-folded,
names cleaned, and business ids (booking, order, reservation, invoice, SKU) in
the shop's canonical spelling, including ids spelled out by voice
("B K 4 8 2 1 3" is ``BK-48213``). Every function returns ``None`` for a value
it cannot make sense of, never raises on user input.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

# UNCONFIRMED: the id formats below come from the DialNexa sample bodies and the
# sandbox seeds (Northwind Home: bookings ``BK-48213``, orders ``NW-77120``,
# invoices ``INV-2025-0917``). A real shop configures its own prefixes through
# ``IdFormats``; these are only the defaults.
ASSUMPTIONS: dict[str, str] = {
    "booking_id_format": "BK-<4..8 digits>; a booking id and a Planyo reservation id share their digits",
    "order_id_format": "NW-<4..8 digits>",
    "invoice_number_format": "INV-<YYYY>-<4 digits>",
    "phone_default_region": "US when not configured (DialNexa sends digits without '+')",
}

EMPTY_MARKERS = frozenset({"", "none", "null", "n/a", "na", "unknown", "not provided", "-", "?"})


class IdKind(StrEnum):
    """The kinds of business identifier a caller may give."""

    BOOKING = "booking"
    RESERVATION = "reservation"
    ORDER = "order"
    INVOICE = "invoice"
    SKU = "sku"


@dataclass(frozen=True)
class IdFormats:
    """The shop's id prefixes; configuration, so another shop is not a code change."""

    booking_prefix: str = "BK"
    order_prefix: str = "NW"
    invoice_prefix: str = "INV"
    min_digits: int = 4
    max_digits: int = 8


DEFAULT_FORMATS = IdFormats()


def is_empty(raw: object) -> bool:
    """True for the placeholders extractors write when the caller never said it."""
    return raw is None or (isinstance(raw, str) and raw.strip().casefold() in EMPTY_MARKERS)


# --- phones -------------------------------------------------------------------------------------


def _parse_phone(candidate: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None


def normalise_phone(raw: object, default_region: str = "US") -> str | None:
    """Return the number in E.164, or None.

    Accepts the shapes seen in the wild: ``15555550187`` (DialNexa, digits
    without ``+``), ``555-555-0187``, ``(555) 555-0142``, ``+1 555 555 0142``,
    ``00``/``011`` international prefixes, ``tel:`` URIs and extensions. A
    number valid in the default region wins; then the digits read as an
    international number; then merely possible numbers (fictional 555 numbers
    are possible but not valid), in the same order.
    """
    if not isinstance(raw, str | int) or is_empty(str(raw)):
        return None
    text = str(raw).strip()
    text = re.sub(r"^tel:", "", text, flags=re.IGNORECASE).split(";")[0]
    text = re.split(r"(?i)\s*(?:ext\.?|extension|x|#)\s*\d+\s*$", text)[0]
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15:
        return None
    attempts: list[tuple[str, str | None]] = []
    if text.startswith("+"):
        attempts.append(("+" + digits, None))
    elif digits.startswith("00") or (digits.startswith("011") and len(digits) > 13):
        attempts.append(("+" + digits.removeprefix("011" if digits.startswith("011") else "00"), None))
    else:
        attempts.extend([(digits, default_region), ("+" + digits, None)])
    parsed = [number for cand, region in attempts if (number := _parse_phone(cand, region)) is not None]
    for check in (phonenumbers.is_valid_number, phonenumbers.is_possible_number):
        for number in parsed:
            if check(number):
                return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return None


def find_phones(text: str, default_region: str = "US") -> list[str]:
    """Every possible phone number in free text (a transcript), in E.164, in order, deduplicated."""
    found: list[str] = []
    for match in phonenumbers.PhoneNumberMatcher(text, default_region, leniency=phonenumbers.Leniency.POSSIBLE):
        e164 = str(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
        if e164 not in found:
            found.append(e164)
    return found


# --- e-mails ------------------------------------------------------------------------------------

_SPOKEN_AT = re.compile(r"\s*(?:\(at\)|\[at\]|\bat\b)\s*", re.IGNORECASE)
_SPOKEN_DOT = re.compile(r"\s*(?:\(dot\)|\[dot\]|\bdot\b)\s*", re.IGNORECASE)
EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def normalise_email(raw: object) -> str | None:
    """Return the e-mail validated (syntax only, no DNS) and case-folded, or None.

    Handles ``mailto:``, ``Name <addr>``, stray spaces and punctuation, and the
    spoken form an extractor sometimes keeps ("elena dot marsh at example dot com").
    Case-folding the local part is a deliberate choice: mailbox providers treat it
    case-insensitively in practice, and a missed match costs more than a false one
    (scoring never acts on an e-mail alone).
    """
    if not isinstance(raw, str) or is_empty(raw):
        return None
    text = raw.strip()
    bracketed = re.search(r"<([^<>]+)>", text)
    if bracketed:
        text = bracketed.group(1)
    text = re.sub(r"^mailto:", "", text.strip(), flags=re.IGNORECASE)
    if "@" not in text:
        text = _SPOKEN_DOT.sub(".", _SPOKEN_AT.sub("@", text))
    text = re.sub(r"\s+", "", text).strip(".,;:'\"()[]")
    if text.count("@") != 1:
        return None
    # Imported on first use: its regexes cost ~20 ms of the cold start of functions that never see an e-mail.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return str(result.normalized).casefold()


def find_emails(text: str) -> list[str]:
    """Every valid e-mail in free text, normalised, in order, deduplicated."""
    found: list[str] = []
    for match in EMAIL_IN_TEXT.finditer(text):
        email = normalise_email(match.group(0))
        if email and email not in found:
            found.append(email)
    return found


# --- names --------------------------------------------------------------------------------------

_HONORIFICS = re.compile(r"^(?:mr|mrs|ms|miss|mx|dr|prof|sir|madam)\.?\s+", re.IGNORECASE)


def normalise_name(raw: object) -> str | None:
    """Return a display name: Unicode-normalised, single-spaced, honorific removed, sensibly cased."""
    if not isinstance(raw, str) or is_empty(raw):
        return None
    text = unicodedata.normalize("NFKC", raw)
    text = re.sub(r"[\s_]+", " ", text).strip(" .,;:'\"")
    text = _HONORIFICS.sub("", text).strip()
    if "," in text:  # "Marsh, Elena" -> "Elena Marsh"
        last, _, first = text.partition(",")
        text = f"{first.strip()} {last.strip()}".strip()
    if not re.search(r"[^\W\d_]", text) or "@" in text:
        return None
    if text.islower() or text.isupper():
        text = " ".join(part.capitalize() for part in text.split(" "))
    return text


def name_key(name: str) -> str:
    """The comparison form of a name: accents stripped, case-folded, punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", plain.casefold())).strip()


# --- ids ----------------------------------------------------------------------------------------

_DIGIT_WORDS = {
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


def _digits_of(text: str) -> str:
    return re.sub(r"\D", "", text)


def _letters_of(text: str) -> str:
    return re.sub(r"[^A-Za-z]", "", text).upper()


def _canonical_numbered(raw: str, prefix: str, fmt: IdFormats) -> str | None:
    """``bk 48213``, ``BK48213``, ``B K 4 8 2 1 3``, ``48213`` -> ``BK-48213``."""
    letters = _letters_of(raw)
    if letters not in ("", prefix):
        return None
    digits = _digits_of(raw)
    if not fmt.min_digits <= len(digits) <= fmt.max_digits:
        return None
    return f"{prefix}-{digits}"


def _canonical_invoice(raw: str, fmt: IdFormats) -> str | None:
    """``inv 2025 0917``, ``INV20250917``, ``I N V 2 0 2 5 0 9 1 7`` -> ``INV-2025-0917``."""
    letters = _letters_of(raw)
    if letters not in ("", fmt.invoice_prefix):
        return None
    groups = re.findall(r"\d+", raw)
    digits = "".join(groups)
    if len(groups) == 2 and len(groups[0]) == 4:
        year, seq = groups
    elif len(digits) >= 6 and digits[:2] in ("19", "20"):
        year, seq = digits[:4], digits[4:]
    else:
        return None
    if not 2 <= len(seq) <= 6:
        return None
    return f"{fmt.invoice_prefix}-{year}-{seq}"


def normalise_id(raw: object, kind: IdKind, fmt: IdFormats = DEFAULT_FORMATS) -> str | None:
    """Return the canonical spelling of an id of a known kind, or None if it does not fit the kind."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or is_empty(raw):
        return None
    text = unicodedata.normalize("NFKC", raw).strip().strip(".,;:#")
    text = re.sub(r"(?i)^(?:booking|order|reservation|invoice|ref(?:erence)?|number|no\.?|#|\s)+", "", text)
    if kind is IdKind.BOOKING:
        return _canonical_numbered(text, fmt.booking_prefix, fmt)
    if kind is IdKind.ORDER:
        return _canonical_numbered(text, fmt.order_prefix, fmt)
    if kind is IdKind.INVOICE:
        return _canonical_invoice(text, fmt)
    if kind is IdKind.RESERVATION:
        letters = _letters_of(text)
        digits = _digits_of(text)
        if letters in ("", fmt.booking_prefix) and 3 <= len(digits) <= 12:
            return digits
        return None
    sku = re.sub(r"[\s_/]+", "-", text.upper()).strip("-")
    sku = re.sub(r"-{2,}", "-", sku)
    return sku if re.fullmatch(r"[A-Z0-9][A-Z0-9.-]{2,39}", sku) else None


def id_match_key(kind: IdKind, value: str) -> str:
    """The key two ids compare on.

    A booking id and a Planyo reservation id are the same number in two
    spellings (``BK-48213`` is reservation 48213), so both compare on their
    digits; every other kind compares on its canonical spelling.
    """
    if kind in (IdKind.BOOKING, IdKind.RESERVATION):
        return "booking:" + _digits_of(value)
    return f"{kind.value}:{value.upper()}"


def _spoken_digits(text: str) -> str:
    """Replace spelled digit words with digits ("four eight" -> "4 8")."""
    pattern = r"\b(" + "|".join(_DIGIT_WORDS) + r")\b"
    return re.sub(pattern, lambda m: _DIGIT_WORDS[m.group(1).lower()], text, flags=re.IGNORECASE)


def _spaced(prefix: str) -> str:
    """A regex for a prefix said letter by letter or written whole: ``B K`` / ``B-K`` / ``BK``."""
    return r"[\s.-]?".join(re.escape(ch) for ch in prefix)


def _take_digits(run: str, max_groups: int) -> str:
    """Digits of an id after its prefix, without swallowing a number that follows it.

    Spelled digits ("4 8 2 1 3") are taken as one run; written groups
    ("2025-0917") are taken up to ``max_groups`` groups.
    """
    tokens = re.findall(r"\d+", run)
    if not tokens:
        return ""
    if len(tokens[0]) == 1:
        single = []
        for token in tokens:
            if len(token) != 1:
                break
            single.append(token)
        return "".join(single)
    return "".join(tokens[:max_groups])


def find_ids(text: str, fmt: IdFormats = DEFAULT_FORMATS) -> list[tuple[IdKind, str]]:
    """Every booking, order, invoice and SKU id in free text, canonical, in order of appearance."""
    spoken = _spoken_digits(text)
    separators = r"(?:\s*(?:-|\u2013|dash|hyphen|number|no\.?|#|:)\s*|\s+)?"
    run = r"((?:\d[\s-]*){1,16})"
    patterns: list[tuple[IdKind, str, int]] = [
        (IdKind.INVOICE, _spaced(fmt.invoice_prefix), 2),
        (IdKind.BOOKING, _spaced(fmt.booking_prefix), 1),
        (IdKind.ORDER, _spaced(fmt.order_prefix), 1),
    ]
    found: list[tuple[int, IdKind, str]] = []
    for kind, prefix, groups in patterns:
        for match in re.finditer(rf"(?<![A-Za-z]){prefix}{separators}{run}", spoken, flags=re.IGNORECASE):
            digits = _take_digits(match.group(1), groups)
            value = normalise_id(digits, kind, fmt)
            if value:
                found.append((match.start(), kind, value))
    for match in re.finditer(r"\bSKU\s*(?:number|#|:)?\s*([A-Za-z0-9][A-Za-z0-9-]{2,39})", text, flags=re.IGNORECASE):
        value = normalise_id(match.group(1), IdKind.SKU, fmt)
        if value:
            found.append((match.start(), IdKind.SKU, value))
    ordered: list[tuple[IdKind, str]] = []
    for _, kind, value in sorted(found, key=lambda item: item[0]):
        if (kind, value) not in ordered:
            ordered.append((kind, value))
    return ordered
