"""DialNexa webhook signatures: the reference's section 9 vectors and every way a header can be wrong."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path

import pytest

from handoff.ingest import signature
from handoff.ingest.signature import SignatureCheck, extract_signature, sign, verify

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "dialnexa"
SECRET = "whsec_nw_reference_only_3c9e7a51"  # fictional test secret from the reference, section 9
OTHER_SECRET = "whsec_fake_rotated_secret_for_tests"

# Reference dialnexa-webhooks.md section 9: HMAC-SHA256 hex over the exact bytes of each sample.
VECTORS = {
    "ping_verification-request.json": "75a103ea62619aa65354e0c03c35a97132c2764a64fc25012ebc7fa1a17364cd",
    "variant-a_call-ended_completed_inbound_billing-dispute-invoice.json": (
        "3f582598ce18fb9084e2e274f0eb75015bb2cba7307f6393bc4b4e32cc17e037"
    ),
    "variant-a_call-ended_completed_inbound_damaged-item-transferred.json": (
        "fdffa9fa60c7c74b058e2046149f77126de3e28adf09b9d0ed75a63555f4f841"
    ),
    "variant-a_call-ended_completed_inbound_no-identifying-data.json": (
        "856ce08754c8eb12eba4cebf914b68c1d87ba6a0fec99a4166aa82016ac6a481"
    ),
    "variant-a_call-ended_completed_inbound_price-availability-buying-intent.json": (
        "aa8f2ebc1a7e32d72ecfae2544ca14e2ce90b9edcfc2a9a52ea7cf8efda7cc43"
    ),
    "variant-a_call-ended_completed_inbound_reschedule-booking.json": (
        "f969df160c0bd6f3ef58866cd07e2e4071a12a91fced693968c03fa0c40e4db0"
    ),
    "variant-a_call-ended_hangup_outbound-batch_no-answer.json": (
        "f3e1f41a12c0b9b2f0bc11f2b2b945fcb974c484bf5ec2102c80b281cd3e0b9e"
    ),
    "variant-b_call-analysis-ready.json": "ec510b508bb443af0b6dda81b825cb9a8e1c592f95075ba2395b6e628ea07fd9",
}
BODY = (SAMPLES / "variant-a_call-ended_completed_inbound_billing-dispute-invoice.json").read_bytes()
DIGEST = VECTORS["variant-a_call-ended_completed_inbound_billing-dispute-invoice.json"]


def test_every_sample_file_has_a_vector() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == sorted(VECTORS)


@pytest.mark.parametrize(("filename", "digest"), sorted(VECTORS.items()))
def test_sign_reproduces_the_reference_vector(filename: str, digest: str) -> None:
    assert sign((SAMPLES / filename).read_bytes(), SECRET) == f"sha256={digest}"


@pytest.mark.parametrize(("filename", "digest"), sorted(VECTORS.items()))
@pytest.mark.parametrize(
    "header_value",
    [
        pytest.param(lambda d: f"sha256={d}", id="prefixed"),
        pytest.param(lambda d: d, id="bare-hex"),
        pytest.param(lambda d: d.upper(), id="upper-hex"),
        pytest.param(lambda d: f"SHA256={d.upper()}", id="upper-prefix"),
        pytest.param(lambda d: f"  sha256={d} ", id="padded"),
    ],
)
def test_verify_accepts_the_reference_vector(filename: str, digest: str, header_value: Callable[[str], str]) -> None:
    check = verify((SAMPLES / filename).read_bytes(), {"X-DialNexa-Signature": header_value(digest)}, [SECRET])
    assert check == SignatureCheck(ok=True, reason=signature.REASON_OK, matched="current")


@pytest.mark.parametrize(
    "header_name",
    ["X-DialNexa-Signature", "x-dialnexa-signature", "X-DIALNEXA-SIGNATURE", "x-nexa-signature", "X-Nexa-Signature"],
)
def test_header_names_are_case_insensitive_and_x_nexa_is_the_fallback(header_name: str) -> None:
    assert verify(BODY, {header_name: f"sha256={DIGEST}"}, [SECRET]).ok


def test_dialnexa_header_wins_over_the_fallback_header() -> None:
    headers = {"x-nexa-signature": f"sha256={DIGEST}", "X-DialNexa-Signature": "sha256=" + "0" * 64}
    assert verify(BODY, headers, [SECRET]).reason == signature.REASON_MISMATCH


def test_an_empty_dialnexa_header_falls_back_to_x_nexa_signature() -> None:
    headers = {"X-DialNexa-Signature": "", "x-nexa-signature": DIGEST}
    assert verify(BODY, headers, [SECRET]).ok


def test_previous_secret_is_accepted_during_rotation() -> None:
    check = verify(BODY, {"x-dialnexa-signature": DIGEST}, [OTHER_SECRET, SECRET])
    assert check == SignatureCheck(ok=True, reason=signature.REASON_OK, matched="previous")


def test_current_secret_is_reported_as_current() -> None:
    assert verify(BODY, {"x-dialnexa-signature": DIGEST}, [SECRET, OTHER_SECRET]).matched == "current"


def test_unset_current_secret_is_ignored_and_previous_still_checked() -> None:
    assert verify(BODY, {"x-dialnexa-signature": DIGEST}, ["", SECRET]).matched == "previous"


def test_wrong_secret_is_rejected_as_mismatch() -> None:
    check = verify(BODY, {"x-dialnexa-signature": DIGEST}, [OTHER_SECRET])
    assert check == SignatureCheck(ok=False, reason=signature.REASON_MISMATCH)


def test_a_reformatted_body_no_longer_matches() -> None:
    assert verify(BODY.rstrip(b"\n"), {"x-dialnexa-signature": DIGEST}, [SECRET]).reason == signature.REASON_MISMATCH


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-headers"),
        pytest.param({"content-type": "application/json"}, id="other-headers-only"),
        pytest.param({"X-DialNexa-Signature": ""}, id="empty-value"),
        pytest.param({"X-DialNexa-Signature": "   "}, id="blank-value"),
        pytest.param({"X-Webhook-Signature": DIGEST}, id="another-platforms-header"),
    ],
)
def test_missing_signature_is_reported_as_missing(headers: dict[str, str]) -> None:
    assert verify(BODY, headers, [SECRET]) == SignatureCheck(ok=False, reason=signature.REASON_MISSING)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("sha256=", id="prefix-only"),
        pytest.param("sha256=xyz", id="not-hex"),
        pytest.param(DIGEST[:-1], id="63-chars"),
        pytest.param(DIGEST + "0", id="65-chars"),
        pytest.param("é" * 64, id="non-ascii"),
        pytest.param(f"sha1={DIGEST}", id="other-algorithm-prefix"),
        pytest.param(f"sha256={DIGEST}, sha256={DIGEST}", id="two-values"),
    ],
)
def test_malformed_signature_is_reported_as_malformed(value: str) -> None:
    assert verify(BODY, {"X-DialNexa-Signature": value}, [SECRET]) == SignatureCheck(
        ok=False, reason=signature.REASON_MALFORMED
    )


@pytest.mark.parametrize("secrets", [[], [""], ["", ""]], ids=["none", "one-empty", "two-empty"])
def test_no_configured_secret_is_never_ok(secrets: list[str]) -> None:
    check = verify(BODY, {"X-DialNexa-Signature": DIGEST}, secrets)
    assert check == SignatureCheck(ok=False, reason=signature.REASON_NO_SECRET)


@pytest.mark.parametrize(
    "value", ["", "sha256=xyz", "0" * 64, DIGEST], ids=["missing", "malformed", "mismatch", "right-for-other-secret"]
)
def test_failure_reasons_never_carry_the_secret_or_the_expected_digest(value: str) -> None:
    check = verify(BODY, {"X-DialNexa-Signature": value}, [OTHER_SECRET])
    expected = sign(BODY, OTHER_SECRET).removeprefix("sha256=")
    assert not check.ok
    assert OTHER_SECRET not in check.reason
    assert expected not in check.reason
    assert OTHER_SECRET not in repr(check)


@pytest.mark.parametrize("value", [DIGEST, "0" * 64, "sha256=xyz"], ids=["match-on-current", "mismatch", "malformed"])
def test_every_configured_secret_is_compared_whatever_the_outcome(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    verify(BODY, {"X-DialNexa-Signature": value}, [SECRET, OTHER_SECRET])
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-DialNexa-Signature": f"sha256={DIGEST}"}, DIGEST),
        ({"X-DialNexa-Signature": DIGEST.upper()}, DIGEST),
        ({"x-nexa-signature": f"Sha256={DIGEST}"}, DIGEST),
        ({"X-DialNexa-Signature": "sha256="}, ""),
        ({}, None),
        ({"X-DialNexa-Signature": " "}, None),
    ],
)
def test_extract_signature_strips_prefix_and_lowercases(headers: dict[str, str], expected: str | None) -> None:
    assert extract_signature(headers) == expected


def test_signature_check_is_immutable() -> None:
    check = verify(BODY, {}, [SECRET])
    with pytest.raises(AttributeError):
        check.ok = True  # type: ignore[misc]
