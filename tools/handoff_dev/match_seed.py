"""In-memory record sources seeded with the sandbox people, for tests and offline explains.

The same fictional Northwind Home customers as the partner sandboxes, already
in Handoff's names (``SourceRecord``), so the match and route suites run in
milliseconds without a server. ``InMemorySource`` answers like a tool would: the
records that share an e-mail, phone, id or name with the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from handoff.match.identity import CallerIdentity
from handoff.match.normalise import IdKind, id_match_key, name_key
from handoff.match.sources import RecordRef, RecordSource, SourceRecord
from handoff.models import RecordKind, Tool


@dataclass
class InMemorySource:
    """A ``RecordSource`` over a fixed list of records (a tool's search, in miniature)."""

    tool: Tool
    records: list[SourceRecord] = field(default_factory=list)
    calls: int = 0

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]:
        self.calls += 1
        emails = {o.value for o in identity.emails}
        phones = {o.value for o in identity.phones}
        ids = {id_match_key(o.kind, o.value) for o in identity.ids}
        names = {name_key(o.value) for o in identity.names}
        return [
            r
            for r in self.records
            if emails & set(r.emails)
            or phones & set(r.phones)
            or ids & {id_match_key(ref.kind, ref.value) for ref in r.ids}
            or any(fuzz.token_sort_ratio(name_key(n), k) >= 80 for n in r.names for k in names)
        ]


@dataclass
class BrokenSource:
    """A tool that is down: every lookup raises."""

    tool: Tool
    error: Exception = field(default_factory=lambda: ConnectionError("connection refused"))

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]:
        raise self.error


@dataclass
class HangingSource:
    """A tool that never answers until released (to test the time budget without sleeping)."""

    tool: Tool
    release: threading.Event = field(default_factory=threading.Event)

    def lookup(self, identity: CallerIdentity) -> list[SourceRecord]:
        self.release.wait(timeout=10)
        return []


def _ref(kind: IdKind, value: str, field_name: str) -> RecordRef:
    return RecordRef(kind=kind, value=value, field=field_name)


def seed_records() -> list[SourceRecord]:
    """The people of the sandboxes, plus the decoys that make matching honest."""
    planyo_url = "https://www.planyo.com/rental.php?site=51045"
    return [
        # Elena Marsh: Planyo user and her delivery reservation 48213 ("BK-48213").
        SourceRecord(
            tool=Tool.PLANYO,
            kind=RecordKind.RESERVATION,
            record_id="48213",
            display="Elena Marsh, Home delivery",
            record_url=f"{planyo_url}&reservation=48213",
            emails=["elena.marsh@example.com"],
            phones=["+15555550142"],
            names=["Elena Marsh"],
            ids=[_ref(IdKind.RESERVATION, "48213", "reservation_id"), _ref(IdKind.BOOKING, "BK-48213", "booking_ref")],
            attributes={
                "start": "2025-06-12T09:00:00-04:00",
                "end": "2025-06-12T12:00:00-04:00",
                "status": "confirmed",
                "resource": "Home delivery - Van 1",
            },
        ),
        SourceRecord(
            tool=Tool.PLANYO,
            kind=RecordKind.CUSTOMER,
            record_id="700142",
            display="Elena Marsh",
            emails=["elena.marsh@example.com"],
            phones=["+15555550142"],
            names=["Elena Marsh"],
        ),
        # Decoy: another Elena Marsh with another e-mail.
        SourceRecord(
            tool=Tool.PLANYO,
            kind=RecordKind.CUSTOMER,
            record_id="700143",
            display="Elena Marsh",
            emails=["elena.m@example.com"],
            phones=["+15555550163"],
            names=["Elena Marsh"],
        ),
        # Decoy: Greta Marsh shares Marcus Greene's phone.
        SourceRecord(
            tool=Tool.PLANYO,
            kind=RecordKind.CUSTOMER,
            record_id="700187",
            display="Greta Marsh",
            emails=["greta.h@example.com"],
            phones=["+15555550187"],
            names=["Greta Marsh"],
        ),
        # Sofia Alvarez: Planyo user and Billit customer.
        SourceRecord(
            tool=Tool.PLANYO,
            kind=RecordKind.CUSTOMER,
            record_id="700131",
            display="Sofia Alvarez",
            emails=["sofia.alvarez@example.com"],
            phones=["+15555550131"],
            names=["Sofia Alvarez"],
        ),
        SourceRecord(
            tool=Tool.BILLIT,
            kind=RecordKind.CUSTOMER,
            record_id="310131",
            display="Sofia Alvarez",
            emails=["sofia.alvarez@example.com"],
            names=["Sofia Alvarez"],
            attributes={"vat_liable": False},
        ),
        # Hannah Reid: Bookingmood contact and booking BK-48377.
        SourceRecord(
            tool=Tool.BOOKINGMOOD,
            kind=RecordKind.BOOKING,
            record_id="bkm_48377",
            display="Hannah Reid, Lakeside cabin",
            emails=["hannah.reid@example.com"],
            phones=["+15555550164"],
            names=["Hannah Reid"],
            ids=[_ref(IdKind.BOOKING, "BK-48377", "reference")],
            attributes={"start": "2025-06-16", "end": "2025-06-19", "status": "confirmed", "contact_id": "ct_164"},
        ),
        SourceRecord(
            tool=Tool.BOOKINGMOOD,
            kind=RecordKind.CONTACT,
            record_id="ct_164",
            display="Hannah Reid",
            emails=["hannah.reid@example.com"],
            phones=["+15555550164"],
            names=["Hannah Reid"],
        ),
        # Decoy: Hanna Reed, a different Bookingmood contact.
        SourceRecord(
            tool=Tool.BOOKINGMOOD,
            kind=RecordKind.CONTACT,
            record_id="ct_165",
            display="Hanna Reed",
            emails=["hanna.reed@example.com"],
            phones=["+15555550165"],
            names=["Hanna Reed"],
        ),
        # Marcus Greene: Plisio invoice INV-2025-0917 (349 USD) and Billit customer.
        SourceRecord(
            tool=Tool.PLISIO,
            kind=RecordKind.INVOICE,
            record_id="plisio_0917",
            display="INV-2025-0917, 349 USD",
            emails=["marcus.greene@example.com"],
            names=["Marcus Greene"],
            ids=[_ref(IdKind.INVOICE, "INV-2025-0917", "order_number")],
            attributes={"amount": 349.0, "currency": "USD", "status": "completed"},
        ),
        SourceRecord(
            tool=Tool.BILLIT,
            kind=RecordKind.CUSTOMER,
            record_id="310187",
            display="Marcus Greene",
            emails=["marcus.greene@example.com"],
            phones=["+15555550187"],
            names=["Marcus Greene"],
        ),
    ]


def seed_sources(
    records: Iterable[SourceRecord] | None = None, *, tools: Sequence[Tool] | None = None
) -> list[RecordSource]:
    """One in-memory source per tool over the seed (or the given records)."""
    records = list(records) if records is not None else seed_records()
    wanted = tools or (Tool.PLANYO, Tool.BOOKINGMOOD, Tool.PLISIO, Tool.BILLIT)
    return [InMemorySource(tool=t, records=[r for r in records if r.tool is t]) for t in wanted]
