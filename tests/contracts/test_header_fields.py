"""Every payload field that becomes an e-mail header refuses line breaks and control characters, with a reason
that names the character and the fix; ordinary text (tabs and non-ASCII included) is untouched."""

from __future__ import annotations

import pytest

from sdr_pipeline.contracts import (
    Delivery,
    InboundReply,
    LeadSubmission,
    NurtureEmail,
    NurtureSequence,
    OutreachEmail,
    validate_payload,
)
from sdr_pipeline.exceptions import ContractError

BREAKS = ["\r", "\n", "\r\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e", "\x00"]
OUTREACH = {"to": "jo@northwind.example", "subject": "Hello", "body": "Hi", "in_reply_to": "<a@b.example>"}
REPLY = {"from": "jo@northwind.example", "to": "sdr@relay.example", "subject": "Re: Hello", "body": "Yes",
         "in_reply_to": "<a@b.example>", "message_id": "<c@d.example>"}
SUBMISSION = {"name": "Jo Weber", "email": "jo@northwind.example", "company_name": "Northwind"}


@pytest.mark.parametrize("char", BREAKS, ids=[f"U+{ord(c[-1]):04X}" for c in BREAKS])
@pytest.mark.parametrize(("model", "data", "field"), [
    (OutreachEmail, OUTREACH, "subject"), (OutreachEmail, OUTREACH, "to"), (OutreachEmail, OUTREACH, "in_reply_to"),
    (InboundReply, REPLY, "subject"), (InboundReply, REPLY, "from"), (InboundReply, REPLY, "to"),
    (InboundReply, REPLY, "in_reply_to"), (InboundReply, REPLY, "message_id"),
    (LeadSubmission, SUBMISSION, "name"), (LeadSubmission, SUBMISSION, "email"),
])
def test_a_line_break_in_a_header_field_is_refused(model, data, field, char) -> None:
    value = data[field]
    broken = {**data, field: f"{value[:3]}{char}Bcc: everyone@victim.example{value[3:]}"}
    with pytest.raises(ValueError, match=r"must be one line of text, but it holds U\+[0-9A-F]{4} .* at position 3"):
        model.model_validate(broken)


def test_the_contract_error_names_the_field_and_the_fix() -> None:
    with pytest.raises(ContractError) as caught:
        validate_payload("outreach_email", {**OUTREACH, "subject": "Hello\u2028Bcc: x@victim.example"})
    message = str(caught.value)
    assert message.startswith("outreach_email v1 at 'subject': ")
    assert "U+2028 (line separator) at position 5" in message and "remove line breaks" in message


def test_nurture_and_delivery_headers_are_checked_too() -> None:
    with pytest.raises(ValueError, match="U\\+000D \\(carriage return\\)"):
        NurtureEmail(subject="One\rTwo", body="b", send_offset_days=0)
    with pytest.raises(ValueError, match="U\\+000A \\(line feed\\)"):
        NurtureSequence(to="jo@northwind.example\n", emails=[{"subject": "s", "body": "b", "send_offset_days": 0}] * 3)
    with pytest.raises(ValueError, match="must be one line"):
        Delivery(index=0, to="jo@northwind.example", subject="a\u2029b", status="sent", send_at="2026-01-01T00:00:00Z")


def test_ordinary_header_text_passes() -> None:
    email = OutreachEmail(to="jo@northwind.example", subject="Grüße,\tJo — 10× faster replies ✓", body="line 1\nline 2")
    assert email.subject == "Grüße,\tJo — 10× faster replies ✓" and email.body == "line 1\nline 2"
    assert LeadSubmission(**{**SUBMISSION, "name": "  Jo Weber\n"}).name == "Jo Weber"  # outer space is trimmed
