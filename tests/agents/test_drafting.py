"""The deterministic clean-up around model text: invented links, placeholders, cut-off sentences."""

from __future__ import annotations

from sdr_pipeline.agents.drafting import clean_body, reply_subject
from sdr_pipeline.agents.runtime import whole_sentences


def test_clean_body_keeps_only_links_named_in_the_facts() -> None:
    body = "See https://acme.example/a, www.evil.example/x and https://phish.example.\n\n\n\nBest,\n[Your Name]"
    cleaned = clean_body(body, allowed_hosts=frozenset({"acme.example"}), sender_name="Alex")
    assert "https://acme.example/a" in cleaned
    assert "evil.example" not in cleaned and "phish.example" not in cleaned
    assert cleaned.endswith("Best,\nAlex") and "\n\n\n" not in cleaned


def test_whole_sentences_drops_a_cut_off_tail() -> None:
    assert whole_sentences("They fit. They also want faster quotes, which aligns with our") == "They fit."
    assert whole_sentences("Complete sentence.") == "Complete sentence."
    assert whole_sentences("no sentence end at all") == "no sentence end at all"


def test_reply_subject() -> None:
    assert reply_subject("Pricing?", "x") == "Re: Pricing?"
    assert reply_subject("RE: Pricing?", "x") == "RE: Pricing?"
    assert reply_subject(None, "Model subject") == "Model subject"


def test_subjects_become_one_header_line() -> None:
    from sdr_pipeline.agents.drafting import one_line, reply_subject

    assert one_line("Quick idea\r\nfor  Northwind\u2028team ") == "Quick idea for Northwind team"
    assert reply_subject("Pricing?\nBcc: victim@example.com", "unused") == "Re: Pricing? Bcc: victim@example.com"
    assert reply_subject(None, "Hello\n there") == "Hello there"


def test_links_survive_only_to_our_own_hosts_never_to_the_leads() -> None:
    from sdr_pipeline.agents.drafting import brief_for, trusted_link_hosts
    from sdr_pipeline.contracts import ActiveOutreachInput
    from sdr_pipeline.settings import Settings

    settings = Settings(_env_file=None, email_from="sdr@relay.example", email_link_hosts="book.partner.example")
    trusted = trusted_link_hosts(settings)
    assert trusted == frozenset({"relay.example", "book.partner.example"})
    envelope = ActiveOutreachInput(
        lead_id="l", produced_by="inbound_email",
        lead={"email": "jo@northwind.example", "company_website": "https://login-northwind.example"},
        context={"from_address": "jo@northwind.example", "body": "Details at https://phish.example/pay please"})
    brief = brief_for(envelope, contract="engage_ready_lead", trusted_hosts=trusted)
    body = ("Pay at https://phish.example/pay or https://login-northwind.example, book at "
            "https://cal.relay.example/alex or https://book.partner.example/x; not https://relay.example.evil.example")
    cleaned = clean_body(body, allowed_hosts=brief.allowed_hosts, sender_name="Alex")
    assert "phish.example" not in cleaned and "login-northwind" not in cleaned and "evil.example" not in cleaned
    assert "https://cal.relay.example/alex" in cleaned and "https://book.partner.example/x" in cleaned


def test_a_reply_is_answered_by_its_sender_only_at_the_leads_own_domain() -> None:
    from sdr_pipeline.agents.drafting import brief_for
    from sdr_pipeline.contracts import ActiveOutreachInput

    def answered_at(sender: str) -> str:
        envelope = ActiveOutreachInput(lead_id="l", produced_by="inbound_email", lead={"email": "jo@northwind.example"},
                                       context={"from_address": sender, "body": "Can we talk?"})
        return brief_for(envelope, contract="engage_ready_lead").to

    assert answered_at("jo@northwind.example") == "jo@northwind.example"
    assert answered_at("kim@northwind.example") == "kim@northwind.example"  # send_email still checks intake
    assert answered_at("victim@bank.example") == "jo@northwind.example"
