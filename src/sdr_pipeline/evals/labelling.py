"""The labelling desk of notebooks/04_label_queue.ipynb: one queued decision at a time, one button per agent.

The notebook only shows `LabelDesk.widget()`; the desk keeps the queue, writes it back after every
label (so closing the notebook loses nothing), and moves to the next unlabelled row. `label` is what a
button does, so a test (or a script) labels exactly as a person clicking would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sdr_pipeline.contracts.dataset import ROUTING_LABELS
from sdr_pipeline.evals.harvest import QueueRow, load_queue, save_queue

__all__ = ["LabelDesk"]


@dataclass
class LabelDesk:
    """A queue being labelled, saved to `path` after each label."""

    path: Path
    labeller: str
    rows: list[QueueRow] = field(default_factory=list)
    position: int = 0

    @classmethod
    def open(cls, path: Path, *, labeller: str) -> LabelDesk:
        desk = cls(path, labeller, load_queue(path))
        desk.position = desk._next_unlabelled(0)
        return desk

    @property
    def done(self) -> int:
        return sum(row.label is not None for row in self.rows)

    @property
    def current(self) -> QueueRow | None:
        return self.rows[self.position] if self.position < len(self.rows) else None

    def _next_unlabelled(self, start: int) -> int:
        return next((i for i in range(start, len(self.rows)) if self.rows[i].label is None), len(self.rows))

    def label(self, agent: str, note: str = "") -> QueueRow | None:
        """Give the current row `agent` (and a note), save the queue, and move on; the row labelled."""
        if agent not in ROUTING_LABELS:
            raise ValueError(f"{agent!r} is not one of {', '.join(ROUTING_LABELS)}")
        row = self.current
        if row is None:
            return None
        row.label, row.note, row.labelled_by = agent, note, self.labeller  # type: ignore[assignment]
        save_queue(self.rows, self.path)
        self.position = self._next_unlabelled(self.position + 1)
        return row

    def skip(self) -> None:
        self.position = self._next_unlabelled(self.position + 1)

    def describe(self, row: QueueRow) -> str:
        """The row as HTML: why it was picked, the decision and its reason, the message."""
        import html

        decision = row.decision
        context = json.dumps(row.message.context, ensure_ascii=False, indent=1)[:1500] if row.message.context else "—"
        return (f"<b>{self.done} of {len(self.rows)} labelled</b> · picked as {', '.join(row.why)}<br>"
                f"<b>router</b>: {html.escape(decision.agent)} ({decision.confidence:.2f}, {decision.policy}, prompt "
                f"{decision.prompt_version}) — {html.escape(decision.reason)}<br>"
                + (f"<b>afterwards</b>: {html.escape(row.detail)}<br>" if row.detail else "")
                + f"<b>from</b> {html.escape(row.message.produced_by)} · hop {row.message.hop} · lead "
                f"{html.escape(row.message.lead_id)}<pre>{html.escape(context)}</pre>")

    def widget(self):
        """The desk as ipywidgets: the row, a note box, one button per agent and a skip button."""
        import ipywidgets as widgets

        view = widgets.HTML()
        note = widgets.Text(placeholder="why (kept with the example)", layout=widgets.Layout(width="60%"))
        buttons = [widgets.Button(description=agent, tooltip=f"label it {agent}") for agent in ROUTING_LABELS]
        skip = widgets.Button(description="skip", button_style="warning")

        def show() -> None:
            row = self.current
            view.value = self.describe(row) if row else f"<b>all {len(self.rows)} rows labelled</b>; publish with " \
                                                        "<code>sdr-pipeline datasets harvest --commit</code>"

        def on_label(button) -> None:
            self.label(button.description, note.value)
            note.value = ""
            show()

        for button in buttons:
            button.on_click(on_label)
        skip.on_click(lambda _: (self.skip(), show()))
        show()
        return widgets.VBox([view, note, widgets.HBox([*buttons, skip])])
