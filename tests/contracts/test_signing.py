"""The one HMAC mechanism: what it accepts, every reason it refuses, and the formats built on it."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sdr_pipeline.contracts import LeadAddresses, email_message_id, thread_from_email_message_id
from sdr_pipeline.contracts.review import ReviewVerdict, review_signature
from sdr_pipeline.contracts.signing import (
    SIGNATURE_HEADER,
    producer_signature,
    request_headers,
    sign,
    verify,
    verify_request,
)

BODY = b'{"message_id": "m-1"}'
NOW = 1_800_000_000


def test_a_signature_verifies_and_has_the_webhook_format() -> None:
    header = sign(BODY, "k", NOW)
    expected = hmac.new(b"k", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"  # what a provider computes: HMAC-SHA256 of "<t>." + body
    assert verify(BODY, header, "k", max_age_s=300, now=NOW + 10) is None


@pytest.mark.parametrize(("header", "secret", "body", "now", "phrase"), [
    (None, "k", BODY, NOW, "header is missing"),
    ("", "k", BODY, NOW, "header is missing"),
    ("garbage", "k", BODY, NOW, "not of the form t=<unix seconds>,v1="),
    (f"t=soon,v1={'0' * 64}", "k", BODY, NOW, "not a whole number"),
    (f"t={NOW}", "k", BODY, NOW, "not of the form"),
    ("x" * 2000, "k", BODY, NOW, "over 1000 characters"),
    (sign(BODY, "k", NOW), "other", BODY, NOW, "does not match"),
    (sign(BODY, "k", NOW), "k", BODY + b" ", NOW, "does not match"),
    (sign(BODY, "k", NOW), "k", BODY, NOW + 301, "301 s ago, outside the 300 s window"),
    (sign(BODY, "k", NOW), "k", BODY, NOW - 400, "400 s in the future"),
    (sign(BODY, "k", NOW).replace("v1=", "v1=é"), "k", BODY, NOW, "does not match"),
    (sign(BODY, "k", NOW), "", BODY, NOW, "no secret is configured"),
])
def test_every_refusal_says_why(header, secret, body, now, phrase) -> None:
    reason = verify(body, header, secret, max_age_s=300, now=now)
    assert reason is not None and phrase in reason


def test_a_rotated_key_can_be_accepted_alongside_the_old_one() -> None:
    old, new = sign(BODY, "old", NOW), sign(BODY, "new", NOW)
    both = f"{old},v1={new.split('v1=')[1]}"
    assert verify(BODY, both, "new", max_age_s=60, now=NOW) is None
    assert verify(BODY, both, "old", max_age_s=60, now=NOW) is None


def test_an_empty_secret_cannot_sign() -> None:
    with pytest.raises(ValueError, match="empty secret"):
        sign(BODY, "", NOW)


def test_a_request_signature_opens_only_its_own_door() -> None:
    headers = request_headers(BODY, "k", url="http://127.0.0.1:8100/agents/lead_scoring", now=NOW)
    header = headers[SIGNATURE_HEADER]
    assert verify_request(BODY, header, "k", method="POST", path="/agents/lead_scoring", max_age_s=60, now=NOW) is None
    for method, path in (("POST", "/agents/send_email"), ("GET", "/agents/lead_scoring")):
        assert "does not match" in verify_request(BODY, header, "k", method=method, path=path, max_age_s=60, now=NOW)
    # nor is it a webhook signature of the same body
    assert verify(BODY, header, "k", max_age_s=60, now=NOW) is not None


def test_the_review_verdict_signature_is_unchanged() -> None:
    expected = hmac.new(b"s3cret", b"m-1\nnurture_campaign", hashlib.sha256).hexdigest()
    assert review_signature("s3cret", message_id="m-1", agent="nurture_campaign") == expected
    verdict = ReviewVerdict(agent="nurture_campaign", reviewer="sam", signature=expected)
    assert verdict.valid_for("m-1", "s3cret") and not verdict.valid_for("m-2", "s3cret")
    assert not verdict.valid_for("m-1", "")
    assert not ReviewVerdict(agent="nurture_campaign", reviewer="sam", signature="é" * 64).valid_for("m-1", "s3cret")


def test_the_producer_signature_covers_identity_and_context() -> None:
    base = {"message_id": "m", "lead_id": "l", "produced_by": "active_outreach",
            "context": {"to": "a@b.example", "subject": "s", "body": "b"}}
    signature = producer_signature("k", **base)
    reordered = {"body": "b", "subject": "s", "to": "a@b.example"}
    assert signature == producer_signature("k", **{**base, "context": reordered})  # canonical JSON: order is moot
    for change in ({"lead_id": "other"}, {"produced_by": "lead_scoring"},
                   {"context": {**base["context"], "to": "victim@x.example"}}):
        assert producer_signature("k", **{**base, **change}) != signature
    assert producer_signature("other", **base) != signature


def test_our_message_ids_name_no_lead_and_verify_only_under_our_secret() -> None:
    thread = "0123456789abcdef0123"
    mid = email_message_id(thread=thread, message_id="m-1", index=2, domain="relay.example", secret="k")
    assert mid.startswith(f"<sdr.{thread}.") and mid.endswith("@relay.example>")
    assert mid == email_message_id(thread=thread, message_id="m-1", index=2, domain="relay.example", secret="k")
    assert thread_from_email_message_id(mid, "k") == thread
    assert thread_from_email_message_id(f"<other@x.example> {mid}", "k") == thread  # several ids in one header
    assert thread_from_email_message_id(mid, "other") is None
    assert thread_from_email_message_id(mid, "") is None
    forged = mid.replace(".2.", ".3.")  # another index, the same HMAC
    assert thread_from_email_message_id(forged, "k") is None
    assert thread_from_email_message_id("<sdr.bGVhZC1udw.0123456789abcdef.0@example.com>", "k") is None  # old format
    with pytest.raises(ValueError, match="thread token"):
        email_message_id(thread="lead-nw", message_id="m", index=0, domain="x.example", secret="k")


def test_lead_addresses_allow_only_what_intake_holds() -> None:
    known = LeadAddresses(lead_id="l", email="Jo@Northwind.example", reply_addresses=("kim@northwind.example",),
                          thread="0" * 20)
    assert known.allows("jo@northwind.example ") and known.allows("KIM@northwind.example")
    assert not known.allows("victim@bank.example") and not known.allows("")
    assert not LeadAddresses(lead_id="l", email=None, thread="0" * 20).allows("jo@northwind.example")
