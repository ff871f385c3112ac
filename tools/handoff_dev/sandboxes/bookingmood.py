"""Bookingmood sandbox: a small PostgREST over in-memory tables seeded from ``fixtures/bookingmood.json``.

What it honours, because the connector and its tests rely on it: ``Bearer``
keys (a wrong key gets 401, a read-only key 403 on writes); ``select`` of
plain columns; column filters ``eq neq gt gte lt lte like ilike in is`` with
``not.``; ``or=(…)``/``and=(…)`` groups (nested too); ``order``; ``limit``
(capped at 1000) and ``offset``; POST of one row or an array (``201``, rows
back when ``select`` or ``Prefer: return=representation`` asks); PATCH and
DELETE on the rows the filters match (``204``, or ``200`` with rows).

Errors use stock PostgREST JSON ``{code, message, details, hint}``: unknown
table 404 ``42P01``, unknown column 400 ``42703``, bad filter 400
``PGRST100``, malformed uuid 400 ``22P02``, bad enum 400 ``22P02``, not-null
400 ``23502``, foreign key 409 ``23503``, unique 409 ``23505``. A PATCH or
DELETE without any filter is refused with 400 ``21000`` ("UPDATE requires a
WHERE clause", as pg-safeupdate does): the real API would change every row.

Limits (documented, not hidden): no resource embedding (``select=x(…)`` is
answered 400 ``PGRST200``), no ``fts``, one filter per column at the top
level (the request parser keeps the last value; use ``and=(…)`` for ranges).

Side effects are counted as ``create_<table>``, ``update_<table>``,
``delete_<table>`` when at least one row changed.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from handoff_dev.sandboxes.base import Request, Response, Sandbox

FIXTURE = Path(__file__).parent / "fixtures" / "bookingmood.json"
API_KEY = "00000000-0000-4000-8000-0000000b0001"  # fake, sandbox only
READ_ONLY_KEY = "00000000-0000-4000-8000-0000000b0002"  # fake, sandbox only
MAX_ROWS = 1000
RESERVED_PARAMS = frozenset({"select", "order", "limit", "offset", "or", "and", "on_conflict", "columns"})
OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in", "is"})


@dataclass(frozen=True)
class Table:
    """Enough of a table's schema to answer like Postgres would."""

    defaults: dict[str, Any]
    not_null: frozenset[str] = frozenset()
    foreign_keys: dict[str, str] = field(default_factory=dict)
    unique: tuple[tuple[str, ...], ...] = ()
    enums: dict[str, frozenset[str]] = field(default_factory=dict)
    generated: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(self.defaults) | frozenset(self.generated) | {"id", "created_at", "updated_at"}


def _full_name(row: dict[str, Any]) -> str | None:
    parts = [p for p in (row.get("first_name"), row.get("last_name")) if p]
    return " ".join(parts) or None


_STATUS = frozenset({"CONFIRMED", "TENTATIVE", "CANCELLED"})
SCHEMA: dict[str, Table] = {
    "organizations": Table(defaults={"name": {}, "default_language": "en-US", "tier": "free"}),
    "products": Table(
        defaults={
            "organization_id": None,
            "parent_id": None,
            "name": {},
            "timezone": "UTC",
            "currency": "EUR",
            "rent_period": "nightly",
            "interaction": "request",
        },
        not_null=frozenset({"organization_id"}),
        foreign_keys={"organization_id": "organizations", "parent_id": "products"},
    ),
    "widgets": Table(
        defaults={
            "organization_id": None,
            "title": "",
            "type": "calendar",
            "language": "en-US",
            "currency": None,
            "interaction": None,
            "redirect_url": None,
            "failure_url": None,
            "date_visibility": "all",
            "initial_date": "today",
            "show_pending_as": "TENTATIVE",
            "show_booked_as": "booked",
            "show_closed_as": "closed",
            "show_past": False,
            "show_reviews": True,
            "stay_expanded": False,
            "autocomplete_date_selection": True,
            "show_bookingmood_branding": True,
            "font": None,
            "settings": None,
            "visible_months": None,
        },
        not_null=frozenset({"organization_id", "settings"}),
        foreign_keys={"organization_id": "organizations"},
        enums={
            "type": frozenset({"calendar", "timeline", "inventory", "search"}),
            "interaction": frozenset({"book", "forward"}),
        },
    ),
    "widget_listings": Table(
        defaults={"widget_id": None, "product_id": None, "order": 0, "url": None},
        not_null=frozenset({"widget_id", "product_id"}),
        foreign_keys={"widget_id": "widgets", "product_id": "products"},
        unique=(("widget_id", "product_id"),),
    ),
    "contacts": Table(
        defaults={
            "organization_id": None,
            "creator_id": None,
            "first_name": None,
            "last_name": None,
            "email": None,
            "phone": None,
            "street": None,
            "street2": None,
            "zip": None,
            "city": None,
            "province": None,
            "state": None,
            "country": None,
            "country_code": None,
            "company_name": None,
            "language": None,
            "notes": None,
            "meta": [],
        },
        foreign_keys={"organization_id": "organizations"},
        generated={"name": _full_name},
    ),
    "bookings": Table(
        defaults={
            "organization_id": None,
            "site_id": None,
            "widget_id": None,
            "reference": None,
            "secret": None,
            "method": "request",
            "occupancy": {},
            "currency": "EUR",
            "display_currency": None,
            "exchange_rate": 1,
            "confirmed_at": None,
            "silent": False,
        },
        foreign_keys={"organization_id": "organizations", "widget_id": "widgets"},
    ),
    "contact_bookings": Table(
        defaults={"contact_id": None, "booking_id": None},
        not_null=frozenset({"contact_id", "booking_id"}),
        foreign_keys={"contact_id": "contacts", "booking_id": "bookings"},
    ),
    "calendar_events": Table(
        defaults={
            "product_id": None,
            "booking_id": None,
            "type": "booking",
            "status": "TENTATIVE",
            "start_date": None,
            "end_date": None,
            "title": None,
            "notes": None,
        },
        not_null=frozenset({"product_id", "start_date", "end_date"}),
        foreign_keys={"product_id": "products", "booking_id": "bookings"},
        enums={"type": frozenset({"booking", "blocked period", "note"}), "status": _STATUS},
    ),
    # Append-only notes on a calendar event (bookingmood/bookingmood-zapier src/data/api-spec.ts,
    # definition calendar_event_notes: id, calendar_event_id (FK calendar_events), author_id, note).
    "calendar_event_notes": Table(
        defaults={"calendar_event_id": None, "author_id": None, "note": None},
        not_null=frozenset({"calendar_event_id", "note"}),
        foreign_keys={"calendar_event_id": "calendar_events"},
    ),
}


class PgError(Exception):
    """A PostgREST error answer."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.response = Response(status, {"code": code, "message": message, "details": details, "hint": None})


# -- filter parsing ---------------------------------------------------------------------------
def split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and double quotes."""
    parts, depth, quoted, buf, escape = [], 0, False, [], False
    for ch in text:
        if escape:
            buf.append(ch)
            escape = False
            continue
        if ch == "\\" and quoted:
            buf.append(ch)
            escape = True
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return [p for p in parts if p != ""]


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Query:
    table: str
    schema: Table

    def column(self, name: str) -> str:
        if name not in self.schema.columns:
            raise PgError(400, "42703", f"column {self.table}.{name} does not exist")
        return name

    def condition(self, column: str, expr: str) -> Predicate:
        """``column`` with ``[not.]op.value``."""
        col = self.column(column)
        negate = expr.startswith("not.")
        if negate:
            expr = expr[4:]
        op, dot, value = expr.partition(".")
        if op not in OPERATORS or not dot:
            raise PgError(400, "PGRST100", f'"failed to parse filter ({expr})"', f"unknown operator in {column}")
        test = self._test(col, op, value)
        return (lambda row: not test(row)) if negate else test

    def group(self, kind: str, body: str) -> Predicate:
        """``or``/``and`` with ``(a.op.v,b.op.v,…)``."""
        if not (body.startswith("(") and body.endswith(")")):
            raise PgError(400, "PGRST100", f'"failed to parse logic tree ({body})"')
        preds = []
        for item in split_top(body[1:-1]):
            match = re.fullmatch(r"(not\.)?(or|and)(\(.*\))", item, flags=re.S)
            if match:
                inner = self.group(match.group(2), match.group(3))
                preds.append((lambda row, p=inner: not p(row)) if match.group(1) else inner)
                continue
            column, dot, rest = item.partition(".")
            if not dot:
                raise PgError(400, "PGRST100", f'"failed to parse logic tree ({body})"')
            preds.append(self.condition(column, rest))
        combine = any if kind == "or" else all
        return lambda row: combine(p(row) for p in preds)

    def _test(self, col: str, op: str, raw: str) -> Predicate:
        if op == "is":
            wanted = {"null": None, "true": True, "false": False}
            if raw not in wanted:
                raise PgError(400, "PGRST100", f'"failed to parse filter (is.{raw})"')
            return lambda row: row.get(col) is wanted[raw]
        if op == "in":
            if not (raw.startswith("(") and raw.endswith(")")):
                raise PgError(400, "PGRST100", f'"failed to parse filter (in.{raw})"')
            values = [unquote(v) for v in split_top(raw[1:-1])]
            for v in values:
                self._check_type(col, v)
            return lambda row: _text(row.get(col)) in values
        value = unquote(raw)
        if op in ("like", "ilike"):
            pattern = re.compile(
                "".join(".*" if c in "*%" else "." if c == "_" else re.escape(c) for c in value),
                re.IGNORECASE | re.S if op == "ilike" else re.S,
            )
            return lambda row: row.get(col) is not None and pattern.fullmatch(_text(row.get(col))) is not None
        self._check_type(col, value)
        compare: dict[str, Callable[[int], bool]] = {
            "eq": lambda c: c == 0,
            "neq": lambda c: c != 0,
            "gt": lambda c: c > 0,
            "gte": lambda c: c >= 0,
            "lt": lambda c: c < 0,
            "lte": lambda c: c <= 0,
        }
        ok = compare[op]
        return lambda row: row.get(col) is not None and ok(_cmp(row.get(col), value))

    def _check_type(self, col: str, value: str) -> None:
        if col == "id" or col.endswith("_id"):
            try:
                uuid.UUID(value)
            except ValueError:
                raise PgError(400, "22P02", f'invalid input syntax for type uuid: "{value}"') from None
        allowed = self.schema.enums.get(col)
        if allowed is not None and value not in allowed:
            raise PgError(400, "22P02", f'invalid input value for enum {self.table}_{col}: "{value}"')


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _cmp(stored: Any, value: str) -> int:
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        try:
            other = float(value)
        except ValueError:
            raise PgError(400, "22P02", f'invalid input syntax for type numeric: "{value}"') from None
        return (stored > other) - (stored < other)
    text = _text(stored)
    return (text > value) - (text < value)


# -- the sandbox ------------------------------------------------------------------------------
class BookingmoodSandbox(Sandbox):
    name: ClassVar[str] = "bookingmood"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, fixture: Path = FIXTURE) -> None:
        super().__init__(host, port)
        self.fixture = fixture
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.reset()
        self.organization_id: str = self.tables["organizations"][0]["id"]

    def reset(self) -> None:
        """Back to the fixture: tables, counters and faults."""
        seed = json.loads(self.fixture.read_text())
        with self.lock:
            self.tables = {}
            for name, schema in SCHEMA.items():
                rows = []
                for row in copy.deepcopy(seed.get(name, [])):
                    full = {**copy.deepcopy(schema.defaults), **row}
                    full.setdefault("updated_at", full.get("created_at"))
                    for col, fn in schema.generated.items():
                        full[col] = fn(full)
                    rows.append(full)
                self.tables[name] = rows
            self.effects.clear()
            self.requests.clear()
            self.faults = None

    def config(self) -> dict[str, Any]:
        return {"base_url": f"{self.base_url}/v1", "api_key": API_KEY, "organization_id": self.organization_id}

    def row(self, table: str, row_id: str) -> dict[str, Any] | None:
        """Test helper: one row by id (a copy)."""
        with self.lock:
            found = next((r for r in self.tables[table] if r["id"] == row_id), None)
            return copy.deepcopy(found)

    # -- routing --------------------------------------------------------------------------------
    VERBS: ClassVar[dict[str, str]] = {"GET": "list", "POST": "create", "PATCH": "update", "DELETE": "delete"}

    def operation_for(self, request: Request) -> str:
        return f"{self.VERBS.get(request.method, request.method.lower())}_{self._table_name(request)}"

    @staticmethod
    def _table_name(request: Request) -> str:
        match = re.fullmatch(r"/v1/([a-z_]+)/?", request.path)
        return match.group(1) if match else "unknown"

    def handle(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except PgError as exc:
            return exc.response

    def _handle(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        if key not in (API_KEY, READ_ONLY_KEY):
            raise PgError(401, "PGRST301", "Invalid API key", "No valid API key found in the Authorization header")
        name = self._table_name(request)
        if name not in SCHEMA:
            raise PgError(404, "42P01", f'relation "public.{name}" does not exist')
        if request.method != "GET" and key == READ_ONLY_KEY:
            raise PgError(403, "42501", f"permission denied for table {name}")
        query = Query(name, SCHEMA[name])
        handlers = {"GET": self._select, "POST": self._insert, "PATCH": self._update, "DELETE": self._delete}
        handler = handlers.get(request.method)
        if handler is None:
            raise PgError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
        return handler(query, request)

    # -- verbs ------------------------------------------------------------------------------------
    def _select(self, query: Query, request: Request) -> Response:
        rows = self._matching(query, request)
        rows = self._ordered(query, rows, request.query.get("order"))
        offset = _int_param(request.query, "offset", 0)
        limit = min(_int_param(request.query, "limit", MAX_ROWS), MAX_ROWS)
        page = rows[offset : offset + limit]
        return Response(200, [self._project(query, r, request.query.get("select")) for r in page])

    def _insert(self, query: Query, request: Request) -> Response:
        body = _json_body(request)
        items = body if isinstance(body, list) else [body]
        if not items or not all(isinstance(i, dict) for i in items):
            raise PgError(400, "PGRST102", "All object keys must match")
        new_rows = [self._new_row(query, item) for item in items]
        table = self.tables[query.table]
        for i, row in enumerate(new_rows):
            self._check_unique(query, row, table + new_rows[:i])
        table.extend(new_rows)
        self.effect(f"create_{query.table}")
        return self._written(query, request, new_rows, 201)

    def _update(self, query: Query, request: Request) -> Response:
        self._require_filter(request)
        body = _json_body(request)
        if not isinstance(body, dict):
            raise PgError(400, "PGRST102", "Empty or invalid json")
        for col in body:
            query.column(col)
            if col in query.schema.generated:
                raise PgError(400, "428C9", f'column "{col}" can only be updated to DEFAULT')
            if col in ("id",):
                raise PgError(400, "428C9", 'column "id" can only be updated to DEFAULT')
        self._check_values(query, body, partial=True)
        rows = self._matching(query, request)
        now = datetime.now(UTC).isoformat()
        for row in rows:
            row.update(copy.deepcopy(body))
            row["updated_at"] = now
            for col, fn in query.schema.generated.items():
                row[col] = fn(row)
        if rows:
            self.effect(f"update_{query.table}")
        return self._written(query, request, rows, 204)

    def _delete(self, query: Query, request: Request) -> Response:
        self._require_filter(request)
        rows = self._matching(query, request)
        ids = {r["id"] for r in rows}
        self.tables[query.table] = [r for r in self.tables[query.table] if r["id"] not in ids]
        if rows:
            self.effect(f"delete_{query.table}")
        return self._written(query, request, rows, 204)

    # -- helpers ----------------------------------------------------------------------------------
    def _require_filter(self, request: Request) -> None:
        if not any(k not in RESERVED_PARAMS or k in ("or", "and") for k in request.query):
            raise PgError(400, "21000", f"{request.method.replace('PATCH', 'UPDATE')} requires a WHERE clause")

    def _matching(self, query: Query, request: Request) -> list[dict[str, Any]]:
        preds: list[Predicate] = []
        for key, value in request.query.items():
            if key in ("or", "and"):
                preds.append(query.group(key, value))
            elif key not in RESERVED_PARAMS:
                preds.append(query.condition(key, value))
        return [r for r in self.tables[query.table] if all(p(r) for p in preds)]

    def _ordered(self, query: Query, rows: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
        terms = [t for t in (order or "id.asc").split(",") if t]
        out = list(rows)
        for term in reversed(terms):
            col, _, direction = term.partition(".")
            query.column(col)
            desc = direction.startswith("desc")
            present = sorted((r for r in out if r.get(col) is not None), key=lambda r: _text(r[col]), reverse=desc)
            missing = [r for r in out if r.get(col) is None]
            out = missing + present if desc else present + missing  # Postgres: NULLS FIRST only for DESC
        return out

    def _project(self, query: Query, row: dict[str, Any], select: str | None) -> dict[str, Any]:
        if not select or select == "*":
            return copy.deepcopy(row)
        cols = split_top(select)
        for col in cols:
            if "(" in col:
                rel = col.split("(", 1)[0]
                raise PgError(
                    400,
                    "PGRST200",
                    f"Could not find a relationship between '{query.table}' and '{rel}' in the schema cache",
                    "this sandbox does not implement resource embedding",
                )
            query.column(col)
        return {c: copy.deepcopy(row.get(c)) for c in cols}

    def _written(self, query: Query, request: Request, rows: list[dict[str, Any]], status: int) -> Response:
        wants_rows = "return=representation" in request.headers.get("prefer", "") or "select" in request.query
        if not wants_rows:
            return Response(status, None)
        body = [self._project(query, r, request.query.get("select")) for r in rows]
        return Response(201 if status == 201 else 200, body)

    def _new_row(self, query: Query, item: dict[str, Any]) -> dict[str, Any]:
        for col in item:
            query.column(col)
            if col in query.schema.generated:
                raise PgError(400, "428C9", f'cannot insert a non-DEFAULT value into column "{col}"')
        now = datetime.now(UTC).isoformat()
        row = {**copy.deepcopy(query.schema.defaults), "id": str(uuid.uuid4()), "created_at": now, **item}
        row["updated_at"] = now
        self._check_values(query, row, partial=False)
        for col, fn in query.schema.generated.items():
            row[col] = fn(row)
        return row

    def _check_values(self, query: Query, values: dict[str, Any], *, partial: bool) -> None:
        schema = query.schema
        for col in schema.not_null:
            if (col in values or not partial) and values.get(col) is None:
                raise PgError(
                    400,
                    "23502",
                    f'null value in column "{col}" of relation "{query.table}" violates not-null constraint',
                )
        for col, allowed in schema.enums.items():
            value = values.get(col)
            if value is not None and value not in allowed:
                raise PgError(400, "22P02", f'invalid input value for enum {query.table}_{col}: "{value}"')
        for col, target in schema.foreign_keys.items():
            value = values.get(col)
            if value is None:
                continue
            query._check_type(col, str(value))
            if not any(r["id"] == value for r in self.tables[target]):
                raise PgError(
                    409,
                    "23503",
                    f'insert or update on table "{query.table}" violates foreign key constraint '
                    f'"{query.table}_{col}_fkey"',
                    f'Key ({col})=({value}) is not present in table "{target}".',
                )

    def _check_unique(self, query: Query, row: dict[str, Any], existing: list[dict[str, Any]]) -> None:
        for cols in query.schema.unique:
            key = tuple(row.get(c) for c in cols)
            if any(tuple(r.get(c) for c in cols) == key for r in existing):
                raise PgError(
                    409,
                    "23505",
                    f'duplicate key value violates unique constraint "{query.table}_{"_".join(cols)}_key"',
                    f"Key ({', '.join(cols)})=({', '.join(str(k) for k in key)}) already exists.",
                )


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise PgError(400, "PGRST103", f'"{name}" must be a non-negative integer')
    return int(raw)


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        raise PgError(400, "PGRST102", "Empty or invalid json") from None
