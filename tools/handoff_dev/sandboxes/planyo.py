"""Planyo sandbox: one ``/rest/`` endpoint, ``method=`` selects the call.

Speaks Planyo's wire format (GET or POST, query string or form body, the
``{"data", "response_code", "response_message"}`` envelope with HTTP 200 even
on API errors) over in-memory state seeded from ``fixtures/planyo.json``.
The non-zero ``response_code`` numbers are invented here (Planyo's table is
UNCONFIRMED); the wording of the messages is what the connector classifies.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from handoff_dev.sandboxes.base import Request, Response, Sandbox

FIXTURE = Path(__file__).with_name("fixtures") / "planyo.json"
API_KEY = "sandbox-planyo-key"
PAGE_SIZE_RESERVATIONS = 500
HASH_WINDOW_SECONDS = 300

# Invented codes (Planyo's numeric table is UNCONFIRMED).
E_AUTH, E_MISSING, E_NOT_FOUND, E_INVALID, E_CONFLICT, E_METHOD = 1, 2, 3, 4, 5, 6

CALLBACK_EVENTS = frozenset(
    {
        "new_verified_reservation",
        "reservation_confirmed",
        "reservation_admin_canceled",
        "reservation_user_canceled",
        "reservation_admin_modified",
        "reservation_auto_canceled",
        "new_price_quotation",
        "reservation_payment_received",
        "reservation_user_modified",
        "reservation_products_user_modified",
        "checked_in",
        "checked_out",
        "noshow",
        "hourly",
        "coupon_payment_received",
        "user_updated",
        "reservation_price_updated",
    }
)
# action -> (bits set, bits cleared)
ACTIONS: dict[str, tuple[int, int]] = {
    "Reserve": (1, 0),
    "Confirm": (1 | 4, 0),
    "Cancel": (8, 0),
    "User_cancel": (16, 0),
    "Checkin": (32, 0),
    "Clear_checkin": (0, 32),
    "Checkout": (1024, 0),
    "Noshow": (4096, 0),
    "Clear_noshow": (0, 4096),
    "Unconfirm": (0, 4),
    "Uncancel": (0, 8 | 16 | 512),
}
CANCELLED_BITS = 8 | 16 | 512
USER_FIELDS = ("first_name", "last_name", "country", "address", "city", "zip", "state")
PHONE_FIELDS = ("phone", "phone_country_code", "mobile", "mobile_country_code")


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _time(value: str | None, name: str) -> datetime:
    if not value:
        raise ApiError(E_MISSING, f"Missing required parameter: {name}")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise ApiError(E_INVALID, f"Invalid value of parameter {name}") from None


def _fmt(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class PlanyoSandbox(Sandbox):
    """In-memory Planyo site for Northwind Home."""

    name: ClassVar[str] = "planyo"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        fixture: Path = FIXTURE,
        hash_secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port)
        self.fixture = fixture
        self.hash_secret = hash_secret
        self.clock = clock
        self.seen: list[Request] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.reservations: dict[int, dict[str, Any]] = {}
        self.resources: dict[int, dict[str, Any]] = {}
        self.coupons: list[dict[str, Any]] = []
        self.callbacks: dict[str, list[str]] = {}
        self.site_id = 0
        self._next_user_id = 800000
        self.reset()

    # -- test hooks ------------------------------------------------------------
    def reset(self) -> None:
        """Back to the fixture: state, counters, faults and the request log."""
        seed = json.loads(self.fixture.read_text())
        with self.lock:
            self.site_id = int(seed.get("site_id", 0))
            self.resources = {int(r["id"]): r for r in seed.get("resources", [])}
            self.users = {int(u["id"]): u for u in copy.deepcopy(seed.get("users", []))}
            self.reservations = {int(r["reservation_id"]): r for r in copy.deepcopy(seed.get("reservations", []))}
            self.coupons = copy.deepcopy(seed.get("coupons", []))
            self.callbacks = {k: list(v) for k, v in seed.get("callbacks", {}).items()}
            self._next_user_id = max(self.users, default=800000) + 1
            self.effects.clear()
            self.requests.clear()
            self.faults = None
            self.seen.clear()

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"base_url": f"{self.base_url}/rest/", "api_key": API_KEY, "site_id": self.site_id}
        if self.hash_secret:
            config["hash_secret"] = self.hash_secret
        return config

    # -- routing ---------------------------------------------------------------
    def operation_for(self, request: Request) -> str:
        if request.path.rstrip("/") != "/rest":
            return "unknown"
        return request.params.get("method") or "unknown"

    def handle(self, request: Request) -> Response:
        self.seen.append(request)
        if request.path.rstrip("/") != "/rest":
            return Response(404, raw=b"<html><body>Not Found</body></html>", headers={"Content-Type": "text/html"})
        params = request.params
        method = params.get("method", "")
        handler: Callable[[dict[str, str]], Any] | None = getattr(self, f"_m_{method}", None)
        try:
            if handler is None:
                raise ApiError(E_METHOD, f"Unknown method: {method or '(none)'}")
            if method != "api_test":
                self._authenticate(params, method)
            data = handler(params)
        except ApiError as exc:
            return Response(200, {"data": None, "response_code": exc.code, "response_message": exc.message})
        return Response(
            200, {"data": data, "response_code": 0, "response_message": f"Method {method} executed successfully."}
        )

    def _authenticate(self, params: dict[str, str], method: str) -> None:
        if params.get("api_key") != API_KEY:
            raise ApiError(E_AUTH, "Invalid API key")
        if self.hash_secret is None:
            return
        stamp, given = params.get("hash_timestamp", ""), params.get("hash_key", "")
        if not stamp.isdigit() or abs(self.clock() - int(stamp)) > HASH_WINDOW_SECONDS:
            raise ApiError(E_AUTH, "Invalid hash key: hash_timestamp missing or out of range")
        expected = hashlib.md5(f"{self.hash_secret}{stamp}{method}".encode(), usedforsecurity=False).hexdigest()
        if given != expected:
            raise ApiError(E_AUTH, "Invalid hash key")

    # -- shaping -----------------------------------------------------------------
    def _user_out(self, user: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in user.items() if k not in PHONE_FIELDS}
        out["login"] = user.get("login") or user["email"]
        if user.get("phone"):
            out["phone_number"] = f"+{user.get('phone_country_code', '')}{user['phone']}"
        if user.get("mobile"):
            out["mobile_number"] = f"+{user.get('mobile_country_code', '')}{user['mobile']}"
        return out

    def _row(self, res: dict[str, Any], id_key: str = "reservation_id") -> dict[str, Any]:
        """A list/search row: reservation joined with its user and resource."""
        user = self.users.get(int(res["user_id"]), {})
        row = {
            id_key: res["reservation_id"],
            "start_time": res["start_time"],
            "end_time": res["end_time"],
            "user_notes": res.get("user_notes", ""),
            "admin_notes": res.get("admin_notes", ""),
            "custom_color": "",
            "night_reservation": 0,
            "first_name": user.get("first_name", ""),
            "last_name": user.get("last_name", ""),
            "login": user.get("email", ""),
            "user_id": res["user_id"],
            "email": user.get("email", ""),
            "phone": user.get("phone", ""),
            "phone_country_code": user.get("phone_country_code", ""),
            "resource_id": res["resource_id"],
            "name": self.resources.get(int(res["resource_id"]), {}).get("name", ""),
        }
        return row

    def _reservation(self, params: dict[str, str]) -> dict[str, Any]:
        raw = params.get("reservation_id", "")
        if not raw:
            raise ApiError(E_MISSING, "Missing required parameter: reservation_id")
        if not raw.isdigit() or int(raw) not in self.reservations:
            raise ApiError(E_NOT_FOUND, f"Reservation {raw} not found")
        return self.reservations[int(raw)]

    def _user_by(self, params: dict[str, str], keys: tuple[str, ...]) -> dict[str, Any]:
        given = [k for k in keys if params.get(k)]
        if len(given) != 1:
            raise ApiError(E_MISSING, f"Exactly one of {', '.join(keys)} is required")
        key, value = given[0], params[given[0]]
        for user in self.users.values():
            if key == "user_id" and str(user["id"]) == value:
                return user
            if key in ("email", "user_login") and str(user.get("email", "")).lower() == value.lower():
                return user
        raise ApiError(E_NOT_FOUND, "User not found")

    # -- methods (one per Planyo method name) ------------------------------------
    def _m_api_test(self, params: dict[str, str]) -> Any:
        return "api_test: OK"

    def _m_get_user_data(self, params: dict[str, str]) -> Any:
        return self._user_out(self._user_by(params, ("user_id", "email")))

    def _m_list_users(self, params: dict[str, str]) -> Any:
        page = int(params.get("page") or 0)
        size = min(int(params.get("page_size") or 100), 1000)
        users = [u for u in self.users.values() if self._name_match(u, params)]
        chunk = users[page * size : (page + 1) * size]
        return {"users": {str(u["id"]): self._user_out(u) for u in chunk}}

    @staticmethod
    def _name_match(user: dict[str, Any], params: dict[str, str]) -> bool:
        for key in ("first_name", "last_name"):
            pattern = (params.get(key) or "").lower()
            value = str(user.get(key, "")).lower()
            if pattern.endswith("*") and not value.startswith(pattern[:-1]):
                return False
            if pattern and not pattern.endswith("*") and value != pattern:
                return False
        return True

    def _m_add_user(self, params: dict[str, str]) -> Any:
        email = params.get("email", "")
        if not email:
            raise ApiError(E_MISSING, "Missing required parameter: email")
        if "@" not in email or "." not in email.split("@")[-1]:
            raise ApiError(E_INVALID, "Invalid email address")
        if not params.get("first_name"):
            raise ApiError(E_MISSING, "Missing required parameter: first_name")
        for user in self.users.values():
            if str(user["email"]).lower() == email.lower():
                # Planyo: an existing e-mail updates the personal details.
                self._apply_user(user, params)
                self.effect("add_user")
                return {"user_id": user["id"]}
        user_id = self._next_user_id
        user = {"id": user_id, "email": email, "registration_time": _fmt(datetime.now()), "is_email_verified": False}
        self._apply_user(user, params)
        self._next_user_id += 1
        self.users[user_id] = user
        self.effect("add_user")
        return {"user_id": user_id}

    @staticmethod
    def _apply_user(user: dict[str, Any], params: dict[str, str]) -> None:
        if params.get("country") and len(params["country"]) != 2:
            raise ApiError(E_INVALID, "Invalid country code")
        for key in (*USER_FIELDS, *PHONE_FIELDS):
            if key in params:
                user[key] = params[key]
        if "user_language" in params:
            user["language"] = params["user_language"]

    def _m_modify_user(self, params: dict[str, str]) -> Any:
        user = self._user_by(params, ("email", "user_id", "user_login"))
        new_email = params.get("new_email")
        if new_email:
            clash = [u for u in self.users.values() if u is not user and str(u["email"]).lower() == new_email.lower()]
            if clash:
                raise ApiError(E_CONFLICT, "A user with this email already exists")
        self._apply_user(user, params)
        self.effect("modify_user")
        if new_email:
            user["email"] = new_email
        return None

    def _m_get_reservation_data(self, params: dict[str, str]) -> Any:
        res = self._reservation(params)
        user = self.users.get(int(res["user_id"]), {})
        out = {k: v for k, v in res.items() if k != "reservation_id"}
        out.update(
            {
                "name": self.resources.get(int(res["resource_id"]), {}).get("name", ""),
                "site_id": self.site_id,
                "user_text": self._user_text(int(res["status"])),
                "email": user.get("email", ""),
                "first_name": user.get("first_name", ""),
                "last_name": user.get("last_name", ""),
                "address": user.get("address", ""),
                "city": user.get("city", ""),
                "zip": user.get("zip", ""),
                "state": user.get("state", ""),
                "country": user.get("country", ""),
                "phone_number": f"+{user.get('phone_country_code', '')}{user.get('phone', '')}",
            }
        )
        return out

    @staticmethod
    def _user_text(status: int) -> str:
        if status & CANCELLED_BITS:
            return "Cancelled"
        if status & 1024:
            return "Checked out"
        if status & 32:
            return "Checked in"
        if status & 4096:
            return "No-show"
        if status & 4:
            return "Confirmed"
        return "Reserved" if status & 1 else "Not completed"

    def _m_reservation_search(self, params: dict[str, str]) -> Any:
        words = (params.get("query") or "").lower().split()
        if not words:
            raise ApiError(E_MISSING, "Missing required parameter: query")
        results = []
        for res in self.reservations.values():
            row = self._row(res, id_key="rental_id")
            haystack = " ".join(
                str(row[k])
                for k in ("rental_id", "first_name", "last_name", "login", "user_id", "email", "phone", "name")
            )
            haystack = f"{haystack} {row['phone_country_code']}{row['phone']}".lower()
            if all(word in haystack for word in words):
                results.append(row)
        return {"results": results}

    def _m_list_reservations(self, params: dict[str, str]) -> Any:
        start, end = _time(params.get("start_time"), "start_time"), _time(params.get("end_time"), "end_time")
        by_creation = _true(params.get("list_by_creation_date"))
        user_id, resource_id = params.get("user_id"), params.get("resource_id")
        page = int(params.get("page") or 0)
        rows = []
        for res in sorted(self.reservations.values(), key=lambda r: (r["start_time"], r["reservation_id"])):
            moment = _time(res["creation_time" if by_creation else "start_time"], "time")
            if not start <= moment <= end:
                continue
            if user_id and str(res["user_id"]) != user_id:
                continue
            if resource_id and str(res["resource_id"]) != resource_id:
                continue
            rows.append(self._row(res))
        return {"results": rows[page * PAGE_SIZE_RESERVATIONS : (page + 1) * PAGE_SIZE_RESERVATIONS]}

    def _m_do_reservation_action(self, params: dict[str, str]) -> Any:
        res = self._reservation(params)
        action = params.get("action", "")
        if action not in ACTIONS:
            raise ApiError(E_INVALID, f"Invalid action: {action or '(none)'}")
        status = int(res["status"])
        if status & CANCELLED_BITS and action not in ("Uncancel", "Cancel", "User_cancel"):
            raise ApiError(E_INVALID, f"Action {action} cannot be performed on a cancelled reservation")
        set_bits, clear_bits = ACTIONS[action]
        res["status"] = (status | set_bits) & ~clear_bits
        if params.get("comment"):
            res.setdefault("action_comments", []).append(params["comment"])
        self.effect("reservation_action")
        return {"status": res["status"], "user_text": self._user_text(int(res["status"]))}

    def _m_modify_reservation(self, params: dict[str, str]) -> Any:
        res = self._reservation(params)
        start = _time(params.get("start_time") or res["start_time"], "start_time")
        end = _time(params.get("end_time") or res["end_time"], "end_time")
        resource_id = int(params.get("resource_id") or res["resource_id"])
        if resource_id not in self.resources:
            raise ApiError(E_INVALID, f"Invalid value of parameter resource_id: {resource_id}")
        if end <= start:
            raise ApiError(E_INVALID, "End time must be later than start time")
        for other in self.reservations.values():
            if other is res or int(other["resource_id"]) != resource_id or int(other["status"]) & CANCELLED_BITS:
                continue
            if _time(other["start_time"], "start_time") < end and start < _time(other["end_time"], "end_time"):
                raise ApiError(E_CONFLICT, "The resource is not available in the selected period")
        res.update({"start_time": _fmt(start), "end_time": _fmt(end), "resource_id": resource_id})
        if params.get("quantity"):
            res["quantity"] = int(params["quantity"])
        self.effect("modify_reservation")
        return {"reservation_id": res["reservation_id"], "status": res["status"]}

    def _m_set_reservation_notes(self, params: dict[str, str]) -> Any:
        res = self._reservation(params)
        for key in ("user_notes", "admin_notes"):
            if key in params:
                res[key] = params[key]
        self.effect("set_reservation_notes")
        return None

    def _m_list_coupons(self, params: dict[str, str]) -> Any:
        rows = []
        for coupon in self.coupons:
            if params.get("email") and str(coupon.get("email", "")).lower() != params["email"].lower():
                continue
            if params.get("coupon_code") and coupon.get("code") != params["coupon_code"]:
                continue
            if params.get("type") and str(coupon.get("type")) != params["type"]:
                continue
            resource_ids = str(coupon.get("resource_ids", "")).split(",")
            if params.get("resource_id") and params["resource_id"] not in resource_ids:
                continue
            if _true(params.get("check_if_valid")) and float(coupon["amount"]) - float(coupon["amount_used"]) <= 0:
                continue
            row = dict(coupon)
            if not _true(params.get("include_usage_data")):
                # Planyo returns amount_used / latest_usage_time only when asked (list_coupons docs:
                # "include_usage_data: If true, the amount of the coupon that was already used (amount_used)
                # and the last time the coupon was used (latest_usage_time) will be returned").
                row.pop("amount_used", None)
                row.pop("latest_usage_time", None)
            rows.append(row)
        return {"results": rows}

    def _m_remove_notification_callback(self, params: dict[str, str]) -> Any:
        """Removes one URL (every copy of it) from an event; other URLs of the event stay."""
        name = params.get("notification_name", "")
        if name not in CALLBACK_EVENTS:
            raise ApiError(E_INVALID, f"Invalid value of parameter notification_name: {name or '(none)'}")
        url = params.get("callback_url", "")
        if not url:
            raise ApiError(E_INVALID, "Missing parameter callback_url")
        kept = [u for u in self.callbacks.get(name, []) if u != url]
        if len(kept) != len(self.callbacks.get(name, [])):
            self.effect("remove_notification_callback")
        if kept:
            self.callbacks[name] = kept
        else:
            self.callbacks.pop(name, None)
        return None

    def _m_add_notification_callback(self, params: dict[str, str]) -> Any:
        name = params.get("notification_name", "")
        if name not in CALLBACK_EVENTS:
            raise ApiError(E_INVALID, f"Invalid value of parameter notification_name: {name or '(none)'}")
        url = params.get("callback_url", "")
        self.effect("add_notification_callback")
        if not url:
            self.callbacks.pop(name, None)
        else:
            self.callbacks.setdefault(name, []).append(url)
        return None
