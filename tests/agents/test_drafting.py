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
