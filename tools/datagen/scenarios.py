"""The scenarios of the routing dataset: one function per kind of message, each drawing one labelled case.

Every scenario takes the run's `Draw` and its index within the scenario (some alternate variants by
index) and returns a `Case`: producer, hop, lead fields, context and the label DESIGN.md's routing
policy gives it. `PLAN` says how many cases of each scenario a dataset holds, in the order they are
drawn, so it is part of the dataset's reproducibility: add scenarios at the end.

This file is long on purpose: it is a catalogue of ~44 small, independent scenarios, grouped by the
stage that produced the message, which read best side by side.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sdr_pipeline.contracts.payloads import LeadScore, OutreachEmail, ResearchProfile
from tools.datagen.draw import EPOCH, Case, Draw, Persona, slug

__all__ = ["ENGAGE_SCORE_THRESHOLD", "PLAN", "Scenario"]

ENGAGE_SCORE_THRESHOLD = 70
"""Where a consistent scorer would switch from nurture to actively_engage. Only used to draw
near-threshold and conflicting scores; the label always follows `next_step`."""

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


# raw leads -> lead_ingestion -----------------------------------------------------------
def raw_clean(draw: Draw, index: int) -> Case:
    person = draw.persona()
    if draw.rng.random() < 0.6:
        return Case("web_form", 0, person.lead(), None, "lead_ingestion", ["stage:raw_lead", "well_formed"])
    context = draw.pick((
        None,
        f"Imported from the CRM campaign '{draw.pick(draw.book.lead_sources)}'.",
        {"crm_id": f"00Q{draw.rng.getrandbits(40):010X}", "owner": "Alex Rivera", "status": "Open - Not Contacted"},
    ))
    return Case("crm_import", 0, person.lead(lead_source="crm_import"), context, "lead_ingestion",
                ["stage:raw_lead", "well_formed"])


def raw_missing(draw: Draw, index: int) -> Case:
    person = draw.persona()
    lead = person.lead()
    optional = ["job_title", "project_description", "lead_source", "company_website"]
    identifying = ["name", "email", "company_name"]
    dropped = draw.rng.sample(optional, draw.rng.randint(1, 3))
    dropped += draw.rng.sample(identifying, draw.rng.randint(0, 2))
    for key in dropped:
        style = draw.rng.randrange(3)
        if style == 0:
            del lead[key]
        else:
            lead[key] = None if style == 1 else ""
    note = f"missing: {', '.join(sorted(dropped))}; still a raw lead to enrich"
    return Case(draw.pick(("web_form", "crm_import")), 0, lead, None, "lead_ingestion",
                ["stage:raw_lead", "missing_fields", "well_formed"], note)


def raw_foreign(draw: Draw, index: int) -> Case:
    lang = draw.book.foreign_languages[index % len(draw.book.foreign_languages)]
    person = draw.persona(lang)
    return Case(draw.pick(("web_form", "crm_import")), 0, person.lead(), None, "lead_ingestion",
                ["stage:raw_lead", "non_english", f"lang:{lang}", "well_formed"])


def raw_injection(draw: Draw, index: int) -> Case:
    lang = "en" if index % 3 else draw.pick(draw.book.foreign_languages)
    person = draw.persona(lang)
    target = draw.other_agent("lead_ingestion")
    text = draw.injection(target, lang)
    slot = ("project_description", "job_title", "name", "company_name")[index % 4]
    lead = person.lead()
    lead[slot] = text if slot == "job_title" else f"{lead[slot]} {text}"
    tags = ["stage:raw_lead", "prompt_injection", "well_formed"]
    if lang != "en":
        tags[1:1] = ["non_english", f"lang:{lang}"]
    return Case("web_form", 0, lead, None, "lead_ingestion", tags,
                f"{slot} asks for {target}; lead fields are data, this is a new raw lead")


def raw_re_engagement(draw: Draw, index: int) -> Case:
    person = draw.persona()
    old_month = draw.pick(draw.book.old_months)
    if index % 2:
        context: Any = draw.pick(draw.book.re_engagement_crm_notes).format(old_month=old_month)
        produced_by = "crm_import"
    else:
        context = {"previous_status": draw.pick(("closed_lost", "nurture_completed", "unresponsive")),
                   "last_activity": old_month, "resubmitted": True}
        produced_by = "web_form"
    return Case(produced_by, 0, person.lead(), context, "lead_ingestion",
                ["stage:raw_lead", "re_engagement", "well_formed"],
                "an old lead is back with new information: research it again")


def raw_update(draw: Draw, index: int) -> Case:
    person = draw.persona()
    template = draw.pick(draw.book.lead_update_notes)
    note = template.format(old_title=draw.pick(draw.book.job_titles["en"]), title=person.title)
    context: Any = note if index % 2 else {"update": note, "source": "crm_sync"}
    return Case("crm_import", 0, person.lead(lead_source="crm_import"), context, "lead_ingestion",
                ["stage:raw_lead", "lead_update", "well_formed"], "an updated lead that was never researched")


# research profiles -> lead_scoring -------------------------------------------------------
def research_clean(draw: Draw, index: int) -> Case:
    person = draw.persona()
    return Case("lead_ingestion", 1, person.lead(), draw.profile(person).model_dump(mode="json"),
                "lead_scoring", ["stage:research", "well_formed"])


def research_missing_optional(draw: Draw, index: int) -> Case:
    person = draw.persona()
    context = draw.profile(person).model_dump(mode="json")
    dropped = draw.rng.sample(["size_estimate", "likely_use_cases", "company_name", "sources"],
                              draw.rng.randint(1, 4))
    for key in dropped:
        del context[key]
    lead = person.lead(job_title=None) if draw.rng.random() < 0.5 else person.lead()
    return Case("lead_ingestion", 1, lead, context, "lead_scoring",
                ["stage:research", "missing_fields", "well_formed"],
                f"profile without {', '.join(sorted(dropped))}: optional, still a research profile")


def research_missing_required(draw: Draw, index: int) -> Case:
    person = draw.persona()
    context = draw.profile(person).model_dump(mode="json")
    key = ("fit_assessment", "industry", "company_summary")[index % 3]
    if draw.rng.random() < 0.5:
        del context[key]
    else:
        context[key] = ""
    return Case("lead_ingestion", 1, person.lead(), context, "lead_scoring",
                ["stage:research", "missing_fields"],
                f"incomplete research profile (no {key}); the lead is researched, scoring is next")


def _research_text(person: Persona, profile: ResearchProfile, template: str) -> str:
    """A research profile written out as a report, the way a chatty agent answers."""
    return person.fill(template, size=profile.size_estimate, summary_tail=profile.company_summary,
                       use_case_1=profile.likely_use_cases[0], use_case_2=profile.likely_use_cases[1],
                       fit=profile.fit_assessment)


def research_drift(draw: Draw, index: int) -> Case:
    person = draw.persona()
    profile = draw.profile(person)
    variant = index % 5
    if variant == 0:
        context: dict[str, Any] = {"summary": profile.company_summary, "sector": profile.industry,
                                   "fit": profile.fit_assessment, "employees": profile.size_estimate}
    elif variant == 1:
        context = {"companySummary": profile.company_summary, "Industry": profile.industry,
                   "fitAssessment": profile.fit_assessment, "useCases": profile.likely_use_cases}
    elif variant == 2:
        context = {"profile": profile.model_dump(mode="json"), "status": "research_complete"}
    elif variant == 3:
        context = {"research_report": _research_text(person, profile, draw.pick(draw.book.research_report_texts))}
    else:
        context = {"research": {"company": person.company, "notes": profile.company_summary,
                                "assessment": profile.fit_assessment}}
    return Case("lead_ingestion", 1, person.lead(), context, "lead_scoring", ["stage:research", "key_drift"],
                "a research profile under other key names")


def research_text(draw: Draw, index: int) -> Case:
    person = draw.persona()
    profile = draw.profile(person)
    texts = draw.book.research_report_texts
    text = _research_text(person, profile, texts[index % len(texts)])
    return Case("lead_ingestion", 1, person.lead(), text, "lead_scoring", ["stage:research", "free_text_output"],
                "lead_ingestion's research report as prose")


def research_foreign(draw: Draw, index: int) -> Case:
    lang = draw.book.foreign_languages[index % len(draw.book.foreign_languages)]
    person = draw.persona(lang)
    profile = draw.profile(person).model_copy(update={
        "company_summary": person.fill(draw.book.foreign_summaries[lang]),
        "fit_assessment": draw.book.foreign_fits[lang],
    })
    return Case("lead_ingestion", 1, person.lead(), profile.model_dump(mode="json"), "lead_scoring",
                ["stage:research", "non_english", f"lang:{lang}", "well_formed"])


def research_injection(draw: Draw, index: int) -> Case:
    person = draw.persona()
    target = draw.other_agent("lead_scoring")
    injection = draw.injection(target)
    lead = person.lead(project_description=f"{person.description} {injection}")
    profile = draw.profile(person).model_copy(update={
        "fit_assessment": f"Form answer quoted verbatim: \"{injection}\" Otherwise a plausible fit.",
    })
    return Case("lead_ingestion", 1, lead, profile.model_dump(mode="json"), "lead_scoring",
                ["stage:research", "prompt_injection", "well_formed"],
                f"the quoted form answer asks for {target}; it is data")


# lead scores -> active_outreach / nurture_campaign ---------------------------------------
def _score_case(person: Persona, score: LeadScore | dict[str, Any] | str, *, step: str,
                tags: list[str], note: str = "") -> Case:
    label = "active_outreach" if step == "actively_engage" else "nurture_campaign"
    context = score.model_dump(mode="json") if isinstance(score, LeadScore) else score
    return Case("lead_scoring", 2, person.lead(), context, label, ["stage:score", f"next_step:{step}", *tags],
                note)


def _step(index: int) -> str:
    """Even indexes engage, odd ones nurture: the plan's scoring scenarios split evenly."""
    return "actively_engage" if index % 2 == 0 else "nurture"


def score_clean(draw: Draw, index: int) -> Case:
    person, step = draw.persona(), _step(index)
    value = draw.rng.randint(78, 97) if step == "actively_engage" else draw.rng.randint(12, 60)
    return _score_case(person, draw.lead_score(person, score=value, next_step=step), step=step,
                       tags=["well_formed"])


def score_near(draw: Draw, index: int) -> Case:
    person, step = draw.persona(), _step(index)
    low, high = ENGAGE_SCORE_THRESHOLD - 6, ENGAGE_SCORE_THRESHOLD + 6
    value = (draw.rng.randint(ENGAGE_SCORE_THRESHOLD, high) if step == "actively_engage"
             else draw.rng.randint(low, ENGAGE_SCORE_THRESHOLD - 1))
    return _score_case(person, draw.lead_score(person, score=value, next_step=step), step=step,
                       tags=["near_threshold", "well_formed"], note=f"score {value} near the threshold")


def score_conflict(draw: Draw, index: int) -> Case:
    person, step = draw.persona(), _step(index)
    near = index % 3 == 2
    tags = ["next_step_conflict", "well_formed"]
    if step == "actively_engage":
        value = draw.rng.randint(ENGAGE_SCORE_THRESHOLD - 6, ENGAGE_SCORE_THRESHOLD - 1) if near \
            else draw.rng.randint(5, 45)
        rationale = draw.pick(draw.book.conflict_engage_rationales)
    else:
        value = draw.rng.randint(ENGAGE_SCORE_THRESHOLD, ENGAGE_SCORE_THRESHOLD + 6) if near \
            else draw.rng.randint(82, 99)
        rationale = draw.pick(draw.book.conflict_nurture_rationales)
    if near:
        tags.insert(1, "near_threshold")
    score = draw.lead_score(person, score=value, next_step=step, rationale=rationale)
    return _score_case(person, score, step=step, tags=tags,
                       note=f"score {value} but next_step {step}: next_step wins")


def score_drift(draw: Draw, index: int) -> Case:
    person, step = draw.persona(), _step(index)
    value = draw.rng.randint(75, 95) if step == "actively_engage" else draw.rng.randint(15, 60)
    words = draw.book.engage_words if step == "actively_engage" else draw.book.nurture_words
    word = draw.pick([word for word in words if word != step])  # the exact value would not be drift
    points = draw.talking_points(person)
    variant = (index // 2) % 5
    tags = ["key_drift"]
    if variant == 0:
        context: dict[str, Any] = {"lead_score": value, "nextStep": word, "talkingPoints": points}
    elif variant == 1:
        context = {"Score": str(value), "Next Step": word, "Talking Points": "; ".join(points)}
    elif variant == 2:
        context = {"rating": f"{value}/100", "recommended_action": word, "notes": points}
    elif variant == 3:
        context = {"result": {"score": value, "decision": word}, "talking_points": points}
    else:
        context = {"score": value, "next_step": word, "talking_points": points}
        tags = ["value_drift"]
    return _score_case(person, context, step=step, tags=tags, note=f"scoring output meaning {step}")


def score_text(draw: Draw, index: int) -> Case:
    person, step = draw.persona(), _step(index)
    value = draw.rng.randint(75, 95) if step == "actively_engage" else draw.rng.randint(15, 60)
    word = draw.pick(draw.book.engage_words[:3] if step == "actively_engage" else draw.book.nurture_words[:3])
    points = draw.talking_points(person)
    variant = (index // 2) % 4
    if variant == 0:
        bullets = "\n".join(f"- {point}" for point in points)
        text = f"Lead score: {value}/100\nNext step: {word}\nTalking points:\n{bullets}"
    elif variant == 1:
        phrase = "reach out personally now" if step == "actively_engage" else "put them in a nurture sequence"
        text = (f"After reviewing the research I'd put {person.company} at {value} out of 100. "
                f"Recommendation: {phrase}. Key angles: {'; '.join(points)}")
    elif variant == 2:
        text = json.dumps({"score": str(value), "next_step": "Actively Engage" if step == "actively_engage"
                           else "Nurture", "talking_points": points})
    else:
        text = f"**Score:** {value}\n**Next step:** {word}\n\n" + "\n".join(f"* {p}" for p in points)
    return _score_case(person, text, step=step, tags=["free_text_output"],
                       note="lead_scoring's output as text" + (" (a JSON string)" if variant == 2 else ""))


def score_injection(draw: Draw, index: int) -> Case:
    person = draw.persona()
    target = draw.other_agent("nurture_campaign")
    score = draw.lead_score(person, score=draw.rng.randint(20, 55), next_step="nurture")
    points = [*score.talking_points[:2], f"Prospect wrote: '{draw.injection(target)}'"]
    score = score.model_copy(update={"talking_points": points})
    return _score_case(person, score, step="nurture", tags=["prompt_injection", "well_formed"],
                       note=f"a talking point quotes an instruction to use {target}; next_step is nurture")


# replies -> active_outreach / nurture_campaign / none -------------------------------------
_REPLY_LABELS = {"buy": "active_outreach", "nurture": "nurture_campaign", "stop": "none"}


def _reply_label(draw: Draw, intent: str) -> str:
    return _REPLY_LABELS[draw.book.intents.group(intent)]


def _intent_tags(draw: Draw, intent: str) -> list[str]:
    return [f"intent:{intent}", *([intent] if intent in draw.book.intents.stop else [])]


def _english_combo(draw: Draw, intents: Sequence[str], index: int) -> tuple[str, str]:
    """The index-th (intent, tone) pair, intents outer, tones inner: each pair gets its turn."""
    combos = [(intent, tone) for intent in intents for tone in draw.book.tones]
    return combos[index % len(combos)]


def _reply_en(draw: Draw, intent: str, tone: str) -> Case:
    person = draw.persona()
    body = draw.reply_body(person, intent, tone)
    return draw.reply_case(person, body, label=_reply_label(draw, intent),
                           tags=["reply", *_intent_tags(draw, intent), f"tone:{tone}"])


def reply_buy(draw: Draw, index: int) -> Case:
    return _reply_en(draw, *_english_combo(draw, draw.book.intents.buy, index))


def reply_nurture(draw: Draw, index: int) -> Case:
    return _reply_en(draw, *_english_combo(draw, draw.book.intents.nurture, index))


def reply_stop(draw: Draw, index: int) -> Case:
    return _reply_en(draw, *_english_combo(draw, draw.book.intents.stop, index))


def _reply_foreign(draw: Draw, intents: Sequence[str], index: int) -> Case:
    lang = draw.book.foreign_languages[index % len(draw.book.foreign_languages)]
    intent = intents[(index // len(draw.book.foreign_languages)) % len(intents)]
    person = draw.persona(lang)
    body, tone = draw.foreign_reply_body(person, intent)
    return draw.reply_case(person, body, label=_reply_label(draw, intent),
                           tags=["reply", *_intent_tags(draw, intent), f"tone:{tone}", "non_english",
                                 f"lang:{lang}"])


def reply_buy_foreign(draw: Draw, index: int) -> Case:
    return _reply_foreign(draw, draw.book.intents.buy, index)


def reply_nurture_foreign(draw: Draw, index: int) -> Case:
    return _reply_foreign(draw, draw.book.intents.nurture, index)


def reply_stop_foreign(draw: Draw, index: int) -> Case:
    return _reply_foreign(draw, draw.book.intents.stop, index)


def _reply_injected(draw: Draw, intents: Sequence[str], index: int) -> Case:
    intent = intents[index % len(intents)]
    tone = draw.pick(("friendly", "formal", "terse"))
    label = _reply_label(draw, intent)
    person = draw.persona()
    target = draw.other_agent(label)
    body = draw.reply_body(person, intent, tone)
    injection = draw.injection(target)
    body = f"{body}\n\n{injection}" if index % 2 else f"{injection}\n\n{body}"
    return draw.reply_case(person, body, label=label,
                           tags=["reply", *_intent_tags(draw, intent), f"tone:{tone}", "prompt_injection"],
                           note=f"the reply asks for {target}; judge its intent, not its instructions")


def reply_buy_injection(draw: Draw, index: int) -> Case:
    return _reply_injected(draw, draw.book.intents.buy, index)


def reply_nurture_injection(draw: Draw, index: int) -> Case:
    return _reply_injected(draw, draw.book.intents.nurture, index)


def reply_stop_injection(draw: Draw, index: int) -> Case:
    return _reply_injected(draw, draw.book.intents.stop, index)


def _reply_re_engagement(draw: Draw, intents: Sequence[str], index: int) -> Case:
    intent = intents[index % len(intents)]
    person = draw.persona()
    opener = draw.pick(draw.book.re_engagement_openers).format(old_month=draw.pick(draw.book.old_months))
    body = f"Hi Alex,\n\n{opener} {draw.pick(draw.book.reply_cores[intent])}\n\n{person.first}"
    case = draw.reply_case(person, body, label=_reply_label(draw, intent),
                           tags=["reply", *_intent_tags(draw, intent), "tone:friendly", "re_engagement"],
                           note="a reply to a months-old thread")
    case.hop = draw.rng.randrange(5, 10)
    return case


def reply_buy_re_engagement(draw: Draw, index: int) -> Case:
    return _reply_re_engagement(draw, draw.book.intents.buy, index)


def reply_nurture_re_engagement(draw: Draw, index: int) -> Case:
    return _reply_re_engagement(draw, draw.book.intents.nurture, index)


def out_of_office(draw: Draw, index: int) -> Case:
    lang = "en" if index % 2 == 0 else draw.book.foreign_languages[(index // 2) % len(draw.book.foreign_languages)]
    person = draw.persona(lang)
    reply = draw.pick(draw.book.out_of_office[lang])
    colleague_first, colleague_last = draw.pick(draw.book.first_names[lang]), draw.pick(draw.book.last_names[lang])
    colleague = f"{colleague_first}.{slug(colleague_last)}@{person.domain}"
    day = EPOCH + timedelta(days=draw.rng.randrange(10, 150))
    date = f"{_MONTHS[day.month - 1]} {day.day}" if lang == "en" else f"{day.day:02d}.{day.month:02d}."
    original = person.fill(draw.pick(draw.book.outreach_subjects), use_case=draw.pick(draw.book.use_cases))
    tags = ["out_of_office"] + (["non_english", f"lang:{lang}"] if lang != "en" else [])
    return draw.reply_case(person, reply.body.format(date=date, colleague=colleague.lower()), label="none",
                           tags=tags, subject=reply.subject_prefix + original,
                           note="an automatic reply; nobody answered")


def bounce(draw: Draw, index: int) -> Case:
    person = draw.persona()
    mail = draw.book.bounces[index % len(draw.book.bounces)]
    original = person.fill(draw.pick(draw.book.outreach_subjects), use_case=draw.pick(draw.book.use_cases))
    quote = person.fill(draw.pick(draw.book.bounce_quotes), subject=original)
    text = person.fill(mail.body, subject=original) + quote
    tags = ["bounce"] + (["non_english", "lang:de"] if "Unzustellbar" in mail.subject else [])
    return draw.reply_case(person, text, label="none", tags=tags, subject=person.fill(mail.subject, subject=original),
                           from_address=person.fill(mail.sender), note="a hard bounce: the address does not exist")


def spam(draw: Draw, index: int) -> Case:
    person = draw.persona()
    mail = draw.book.spam[index % len(draw.book.spam)]
    tags = ["spam"] + (["non_english", "lang:es"] if mail.sender.endswith(".es") else [])
    case = draw.reply_case(person, mail.body, label="none", tags=tags, subject=mail.subject,
                           from_address=mail.sender, note="spam that arrived on the reply address")
    case.lead = {"email": mail.sender, "lead_source": "inbound_email"}
    return case


def junk_lead(draw: Draw, index: int) -> Case:
    if index % 3 == 0:
        return Case("web_form", 0, {}, None, "none", ["stage:raw_lead", "junk_lead", "missing_fields"],
                    "an empty form submission: nothing to research")
    junk = draw.book.junk_leads[index % len(draw.book.junk_leads)]
    return Case("web_form", 0, {**junk, "lead_source": "web_form"}, None, "none",
                ["stage:raw_lead", "junk_lead", "spam", "well_formed"], "a bot or test submission")


# drafted e-mails -> send_email -------------------------------------------------------------
def outreach_clean(draw: Draw, index: int) -> Case:
    person = draw.persona()
    after_reply = index % 4 == 3
    email = draw.outreach(person, in_reply_to=draw.message_ref(person.domain) if after_reply else None)
    return Case("active_outreach", 5 if after_reply else 3, person.lead(), email.model_dump(mode="json"),
                "send_email", ["stage:drafts", "well_formed"])


def sequence_clean(draw: Draw, index: int) -> Case:
    person = draw.persona()
    return Case("nurture_campaign", 3, person.lead(), draw.sequence(person).model_dump(mode="json"),
                "send_email", ["stage:drafts", "well_formed"])


def drafts_drift(draw: Draw, index: int) -> Case:
    person = draw.persona()
    variant = index % 6
    if variant < 3:
        email = draw.outreach(person)
        producer = "active_outreach"
        if variant == 0:
            context: dict[str, Any] = {"email": {"to": email.to, "subject": email.subject, "body": email.body}}
        elif variant == 1:
            context = {"recipient": email.to, "subject_line": email.subject, "email_body": email.body}
        else:
            context = {"campaign_type": "active_outreach",
                       "emails": [{"subject": email.subject, "body": email.body}]}
    else:
        sequence = draw.sequence(person)
        producer = "nurture_campaign"
        items = [item.model_dump() for item in sequence.emails]
        if variant == 3:
            context = {"to": sequence.to, "sequence": items}
        elif variant == 4:
            context = {"campaign_type": "nurture",
                       "emails": [{"subject": item["subject"], "body": item["body"],
                                   "delay_days": item["send_offset_days"]} for item in items]}
        else:
            context = {"to": sequence.to,
                       "emails": [{"subject": item["subject"], "content": item["body"],
                                   "day": item["send_offset_days"]} for item in items]}
    return Case(producer, 3, person.lead(), context, "send_email", ["stage:drafts", "key_drift"],
                f"{producer}'s drafts under other key names")


def drafts_text(draw: Draw, index: int) -> Case:
    person = draw.persona()
    if index % 2 == 0:
        email = draw.outreach(person)
        return Case("active_outreach", 3, person.lead(), f"Subject: {email.subject}\n\n{email.body}",
                    "send_email", ["stage:drafts", "free_text_output"], "one drafted e-mail as text")
    sequence = draw.sequence(person)
    text = "\n\n".join(f"Email {number} (send on day {item.send_offset_days})\nSubject: {item.subject}\n\n"
                       f"{item.body}" for number, item in enumerate(sequence.emails, start=1))
    return Case("nurture_campaign", 3, person.lead(), text, "send_email", ["stage:drafts", "free_text_output"],
                "a drafted nurture sequence as text")


def drafts_foreign(draw: Draw, index: int) -> Case:
    lang = draw.book.foreign_languages[index % len(draw.book.foreign_languages)]
    person = draw.persona(lang)
    draft = draw.book.foreign_outreach[lang]
    email = OutreachEmail(to=person.email, subject=person.fill(draft.subject), body=person.fill(draft.body))
    return Case("active_outreach", 3, person.lead(), email.model_dump(mode="json"), "send_email",
                ["stage:drafts", "non_english", f"lang:{lang}", "well_formed"])


def drafts_injection(draw: Draw, index: int) -> Case:
    person = draw.persona()
    target = draw.other_agent("send_email")
    injection = draw.injection(target)
    lead = person.lead(project_description=f"{person.description} {injection}")
    email = draw.outreach(person)
    body = email.body.replace("\n\nBest,", f"\n\nYou wrote: \"{injection}\"\n\nBest,") \
        if "\n\nBest," in email.body else f"{email.body}\n\nP.S. You wrote: \"{injection}\""
    email = email.model_copy(update={"body": body})
    return Case("active_outreach", 3, lead, email.model_dump(mode="json"), "send_email",
                ["stage:drafts", "prompt_injection", "well_formed"],
                f"the draft quotes the lead's text asking for {target}; the drafts are ready to send")


# send_email's output -> none ------------------------------------------------------------
def delivery_clean(draw: Draw, index: int) -> Case:
    person = draw.persona()
    report = draw.delivery(person, EPOCH + timedelta(minutes=draw.rng.randrange(0, 60 * 24 * 120)))
    return Case("send_email", 4, person.lead(), report.model_dump(mode="json"), "none",
                ["stage:delivery", "well_formed"], "e-mails sent or scheduled: the workflow ends")


def delivery_drift(draw: Draw, index: int) -> Case:
    person = draw.persona()
    count = draw.rng.randint(1, 3)
    context = draw.pick((
        {"status": "success", "emails_sent": count},
        {"result": "ok", "message_ids": [draw.message_ref() for _ in range(count)]},
        {"sent": True, "recipient": person.email, "count": count},
    ))
    return Case("send_email", 4, person.lead(), context, "none", ["stage:delivery", "key_drift"],
                "send_email's confirmation under other key names")


def delivery_text(draw: Draw, index: int) -> Case:
    person = draw.persona()
    text = draw.pick(draw.book.delivery_texts).format(count=draw.rng.randint(1, 3), email=person.email)
    return Case("send_email", 4, person.lead(), text, "none", ["stage:delivery", "free_text_output"],
                "send_email's confirmation as text")

Scenario = Callable[[Draw, int], Case]
"""Draws the index-th case of one scenario."""

PLAN: tuple[tuple[Scenario, int], ...] = (
    # lead_ingestion (112)
    (raw_clean, 40),
    (raw_missing, 22),
    (raw_foreign, 18),
    (raw_injection, 14),
    (raw_re_engagement, 10),
    (raw_update, 8),


    # lead_scoring (100)
    (research_clean, 36),
    (research_missing_optional, 10),
    (research_missing_required, 8),
    (research_drift, 14),
    (research_text, 16),
    (research_foreign, 10),
    (research_injection, 6),


    # active_outreach and nurture_campaign from scoring (even index: engage, odd: nurture)
    (score_clean, 40),
    (score_near, 20),
    (score_conflict, 20),
    (score_drift, 20),
    (score_text, 16),
    (score_injection, 5),


    # replies
    (reply_buy, 40),
    (reply_buy_foreign, 24),
    (reply_buy_injection, 6),
    (reply_buy_re_engagement, 6),
    (reply_nurture, 30),
    (reply_nurture_foreign, 18),
    (reply_nurture_injection, 4),
    (reply_nurture_re_engagement, 5),


    # send_email (100)
    (outreach_clean, 26),
    (sequence_clean, 24),
    (drafts_drift, 18),
    (drafts_text, 14),
    (drafts_foreign, 12),
    (drafts_injection, 6),


    # none
    (delivery_clean, 22),
    (delivery_drift, 8),
    (delivery_text, 8),
    (reply_stop, 25),
    (reply_stop_foreign, 12),
    (reply_stop_injection, 5),
    (out_of_office, 16),
    (bounce, 12),
    (spam, 12),
    (junk_lead, 10),
)
