"""Signed-body builders for the size limit: long calls in any script, at a chosen byte size.

Used by the tests (``make test`` and ``make stress``) to prove the promise of issue 12:
any body ingest accepts, up to 256 KiB in any script, is recorded and runs to a
terminal or waiting state. Two kinds of transcript text:

* ``natural``: words of the script drawn with a fixed seed (compresses like speech);
* ``random``: code points drawn uniformly from the script's block, the least
  compressible text a signed body can carry (the worst case for the call record).
"""

from __future__ import annotations

import json
import random
from typing import Any, Final, Literal

from handoff.ingest.limits import MAX_BODY_BYTES

Kind = Literal["natural", "random"]

WORDS: Final[dict[str, str]] = {
    "cyrillic": "здравствуйте я хотел бы перенести бронирование на пятницу номер заказа спасибо звонок "
    "оператор клиент вопрос счёт оплата доставка адрес время завтра утром вечером",
    "japanese": "こんにちは 予約 変更 したい です 金曜日 注文番号 ありがとう ございます お客様 請求書 "
    "支払い 配送 住所 明日 午前 午後 確認 お願いします",
    "emoji": "👋 😀 📅 ✅ ❌ 🙏 💳 📦 🏠 ⏰ 🌅 🌙 👍 🎉 😢 🔁 📞 🧾 🚚 ❤️",
    "greek": "γεια σας θα ήθελα να αλλάξω την κράτηση για την παρασκευή αριθμός παραγγελίας ευχαριστώ "  # noqa: RUF001
    "πληρωμή παράδοση διεύθυνση αύριο πρωί βράδυ",
    "arabic": "مرحبا أريد تغيير الحجز إلى يوم الجمعة رقم الطلب شكرا الدفع التوصيل العنوان غدا صباحا مساء",
}

BLOCKS: Final[dict[str, tuple[int, int]]] = {
    "cyrillic": (0x0410, 0x044F),
    "japanese": (0x4E00, 0x9FFF),
    "emoji": (0x1F300, 0x1F64F),
    "greek": (0x0391, 0x03C9),
    "arabic": (0x0621, 0x064A),
}


def _text(script: str, kind: Kind, rng: random.Random, target_bytes: int) -> str:
    parts: list[str] = []
    size = 0
    while size < target_bytes:
        if kind == "natural":
            line = ("user: " if len(parts) % 2 else "agent: ") + " ".join(rng.choices(WORDS[script].split(), k=12))
        else:
            low, high = BLOCKS[script]
            line = "".join(chr(rng.randint(low, high)) for _ in range(40))
        parts.append(line)
        size += len(line.encode("utf-8")) + 1
    return "\n".join(parts)


def call_body(
    call_id: str, script: str, target_bytes: int = 250 * 1024, kind: Kind = "natural", *, seed: int = 12
) -> bytes:
    """A variant-A ``call_ended`` body of at most ``target_bytes`` (UTF-8, unescaped), mostly transcript."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    summary = _text(script, "natural", rng, 1500)
    body: dict[str, Any] = {
        "event_type": "call_ended",
        "payload": {
            "call": {
                "id": call_id,
                "status": "completed",
                "direction": "inbound",
                "from_number": "+15550104477",
                "to_number": "+15550100000",
                "duration": 4200,
                "summary": summary,
                "post_call_analysis": {
                    "intent": _text(script, "natural", rng, 200),
                    "caller_name": _text(script, "natural", rng, 60),
                    **{f"note_{i}": _text(script, "natural", rng, 400) for i in range(20)},
                },
                "transcript": "",
            }
        },
    }

    def encode(value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")

    room = target_bytes - len(encode(body))
    transcript = _text(script, kind, rng, max(room, 0))
    # json escapes newlines: trim until the whole body is at or under the target.
    while True:
        body["payload"]["call"]["transcript"] = transcript
        over = len(encode(body)) - target_bytes
        if over <= 0 or not transcript:
            break
        transcript = transcript[: len(transcript) - max(over // 4, 1)]
    raw = encode(body)
    assert len(raw) <= min(target_bytes, MAX_BODY_BYTES), len(raw)
    return raw
