"""The labelling desk: a label per button press, saved at once, the next unlabelled row next."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sdr_pipeline.evals.harvest import harvest, load_queue, save_queue
from sdr_pipeline.evals.labelling import LabelDesk
from tests.evals.test_harvest import NOW, traffic  # noqa: F401 — the fixture


def test_each_label_is_saved_and_the_desk_moves_to_the_next_unlabelled_row(traffic, tmp_path):  # noqa: F811
    bus, _ = traffic
    path = tmp_path / "queue.jsonl"
    save_queue(harvest(bus, since=NOW - timedelta(days=7), sample=2), path)
    desk = LabelDesk.open(path, labeller="sam")
    first = desk.current
    assert first is not None and first.label is None, "the reviewed row is already labelled and skipped"
    assert "picked as" in desk.describe(first) and first.decision.reason in desk.describe(first)
    desk.label("lead_scoring", "asks for a score")
    saved = load_queue(path)
    labelled = next(row for row in saved if row.decision.message_id == first.decision.message_id)
    assert (labelled.label, labelled.note, labelled.labelled_by) == ("lead_scoring", "asks for a score", "sam")
    assert desk.current is not None and desk.current.label is None and desk.current is not first
    with pytest.raises(ValueError, match="not one of"):
        desk.label("sales_team")
    while desk.current is not None:
        desk.label("none")
    assert desk.done == len(desk.rows) == len(load_queue(path))
    assert desk.widget() is not None
