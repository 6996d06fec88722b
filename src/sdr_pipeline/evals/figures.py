"""The lab's figures: confusion matrix, leaderboard plots, the promotion comparison.

Built on `matplotlib.figure.Figure` directly (no pyplot state), so they can be drawn on
worker threads of a sweep and saved as PNG artifacts with the Agg canvas; a notebook
shows one by leaving it as the cell's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sdr_pipeline.evals.metrics import expected_calibration_error, reliability_table

if TYPE_CHECKING:
    from sdr_pipeline.evals.runner import EvalResult

__all__ = [
    "accuracy_intervals_figure",
    "confusion_figure",
    "cost_accuracy_figure",
    "journey_figure",
    "latency_figure",
    "pareto_figure",
    "promotion_figure",
    "recall_figure",
    "reliability_figure",
    "save_png",
]


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path | str) -> Path:
    """Write `figure` as a PNG (Agg) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=110)
    return path


def confusion_figure(result: EvalResult) -> Figure:
    """Counts of expected (rows) against predicted (columns) agents, with the run's headline in the title."""
    matrix = result.confusion()
    figure = _figure(1.1 * len(matrix.columns) + 2.5, 0.8 * len(matrix.index) + 1.8)
    axis = figure.add_subplot()
    image = axis.imshow(matrix.to_numpy(), cmap="Blues")
    axis.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=35, ha="right")
    axis.set_yticks(range(len(matrix.index)), matrix.index)
    axis.set_xlabel("predicted")
    axis.set_ylabel("expected")
    peak = matrix.to_numpy().max() or 1
    for (row, column), count in np.ndenumerate(matrix.to_numpy()):
        axis.text(column, row, str(count), ha="center", va="center",
                  color="white" if count > peak / 2 else "black", fontsize=9)
    m = result.metrics
    axis.set_title(f"{result.prompt_name} {result.prompt_version} · {result.policy} · {result.model or 'no model'}\n"
                   f"accuracy {m.accuracy:.3f} [{m.accuracy_ci_low:.3f}, {m.accuracy_ci_high:.3f}] · n={m.n}",
                   fontsize=10)
    figure.colorbar(image, ax=axis, shrink=0.8)
    return figure


def _labels(board: pd.DataFrame) -> list[str]:
    return [f"{row.prompt_version} · {row.policy}" + (f" · {row.model_short}" if board["model"].nunique() > 1 else "")
            for row in board.itertuples()]


def accuracy_intervals_figure(board: pd.DataFrame) -> Figure:
    """Accuracy per run with its Wilson 95 % interval, best on top (a leaderboard from `tracking.leaderboard`)."""
    ordered = board.sort_values("accuracy")
    figure = _figure(7.5, 0.45 * len(ordered) + 1.5)
    axis = figure.add_subplot()
    positions = np.arange(len(ordered))
    errors = np.vstack([ordered["accuracy"] - ordered["accuracy_ci_low"],
                        ordered["accuracy_ci_high"] - ordered["accuracy"]])
    axis.errorbar(ordered["accuracy"], positions, xerr=errors, fmt="o", capsize=4)
    axis.set_yticks(positions, _labels(ordered))
    axis.set_xlim(0, 1)
    axis.set_xlabel("accuracy (Wilson 95 % interval)")
    axis.grid(axis="x", alpha=0.3)
    axis.set_title("accuracy per prompt version and policy")
    return figure


def cost_accuracy_figure(board: pd.DataFrame) -> Figure:
    """Cost per 1,000 messages against accuracy; local models cost nothing, so tokens go on a second panel."""
    figure = _figure(11, 4)
    left, right = figure.subplots(1, 2)
    for axis, column, label in ((left, "cost_per_1k_messages", "US$ per 1,000 messages"),
                                (right, "tokens_per_message", "tokens per message")):
        axis.scatter(board[column], board["accuracy"])
        for text, x, y in zip(_labels(board), board[column], board["accuracy"], strict=True):
            axis.annotate(text, (x, y), fontsize=8, xytext=(4, 2), textcoords="offset points")
        axis.set_xlabel(label)
        axis.set_ylabel("accuracy")
        axis.grid(alpha=0.3)
    left.set_title("cost against accuracy")
    right.set_title("tokens against accuracy")
    return figure


def latency_figure(board: pd.DataFrame) -> Figure:
    """Decision latency p50 and p95 (cache misses only) per run."""
    ordered = board.sort_values("latency_p50_s", na_position="first")
    figure = _figure(7.5, 0.45 * len(ordered) + 1.5)
    axis = figure.add_subplot()
    positions = np.arange(len(ordered))
    axis.barh(positions - 0.2, ordered["latency_p50_s"].fillna(0), height=0.4, label="p50")
    axis.barh(positions + 0.2, ordered["latency_p95_s"].fillna(0), height=0.4, label="p95")
    axis.set_yticks(positions, _labels(ordered))
    axis.set_xlabel("seconds per decision (cache misses)")
    axis.legend()
    axis.set_title("latency")
    return figure


def recall_figure(board: pd.DataFrame) -> Figure:
    """Per-class recall of each run as a heat map (runs as rows, labels as columns)."""
    columns = [column for column in board.columns if column.startswith("recall_")]
    values = board[columns].to_numpy(dtype=float)
    figure = _figure(1.2 * len(columns) + 3, 0.45 * len(board) + 1.8)
    axis = figure.add_subplot()
    image = axis.imshow(values, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    axis.set_xticks(range(len(columns)), [column.removeprefix("recall_") for column in columns],
                    rotation=35, ha="right")
    axis.set_yticks(range(len(board)), _labels(board))
    for (row, column), value in np.ndenumerate(values):
        if not np.isnan(value):
            axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axis, shrink=0.8)
    axis.set_title("recall per expected agent")
    return figure


def promotion_figure(candidate: EvalResult, production: EvalResult | None) -> Figure:
    """Per-class recall and overall accuracy of the candidate next to the current production version."""
    runs = [("candidate " + candidate.prompt_version, candidate)]
    if production is not None:
        runs.insert(0, ("production " + production.prompt_version, production))
    labels = sorted(set().union(*(run.metrics.recall for _, run in runs)), key=list(candidate.labels).index)
    figure = _figure(9, 4)
    axis = figure.add_subplot()
    width = 0.8 / len(runs)
    positions = np.arange(len(labels) + 1)
    for offset, (name, run) in enumerate(runs):
        values = [run.metrics.recall.get(label, np.nan) for label in labels] + [run.metrics.accuracy]
        axis.bar(positions + offset * width - 0.4 + width / 2, values, width=width, label=name)
    axis.set_xticks(positions, [*labels, "accuracy"], rotation=30, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("recall / accuracy")
    axis.legend()
    axis.set_title("promotion evidence")
    return figure


def journey_figure(steps: pd.DataFrame) -> Figure:
    """Each lead's decisions over time (minutes since its first), one row per lead, coloured by agent."""
    leads = list(dict.fromkeys(steps["lead_id"]))
    agents = list(dict.fromkeys(steps["agent"]))
    colours = {agent: f"C{index % 10}" for index, agent in enumerate(agents)}
    figure = _figure(10, 0.42 * len(leads) + 1.8)
    axis = figure.add_subplot()
    for row, lead in enumerate(leads):
        group = steps[steps["lead_id"] == lead]
        minutes = (group["decided_at"] - group["decided_at"].min()).dt.total_seconds() / 60
        axis.plot(minutes, [row] * len(group), color="lightgray", zorder=1)
        axis.scatter(minutes, [row] * len(group), c=[colours[agent] for agent in group["agent"]], zorder=2, s=45)
    for agent, colour in colours.items():
        axis.scatter([], [], c=colour, label=agent)
    axis.set_yticks(range(len(leads)), leads)
    axis.invert_yaxis()
    axis.set_xlabel("minutes since the lead's first decision")
    axis.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    axis.set_title("lead journeys: one routing decision per dot")
    return figure


def pareto_figure(board: pd.DataFrame) -> Figure:
    """Accuracy against the median latency of a model decision, with the Pareto front drawn through the
    points no other point beats on both (runs that asked no model are placed at their overall latency)."""
    latency = board["model_latency_p50_s"].fillna(board["latency_p50_s"]).fillna(0.0) if "model_latency_p50_s" in board \
        else board["latency_p50_s"].fillna(0.0)
    figure = _figure(7.5, 4.8)
    axis = figure.add_subplot()
    axis.scatter(latency, board["accuracy"], s=40, zorder=3)
    for label, x, y in zip(_labels(board), latency, board["accuracy"], strict=True):
        axis.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    order = np.argsort(latency.to_numpy(), kind="stable")
    front_x, front_y, best = [], [], -1.0
    for index in order:
        if board["accuracy"].iloc[index] > best:
            best = float(board["accuracy"].iloc[index])
            front_x.append(float(latency.iloc[index]))
            front_y.append(best)
    axis.step(front_x, front_y, where="post", color="tab:red", alpha=0.7, label="Pareto front")
    axis.set_xlabel("median seconds per model decision (cache misses)")
    axis.set_ylabel("accuracy")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    axis.set_title("accuracy against latency")
    return figure


def reliability_figure(result: EvalResult, *, bins: int = 10) -> Figure:
    """The reliability diagram: accuracy per confidence bin against the diagonal, with the ECE in the title."""
    valid = [prediction for prediction in result.predictions if prediction.valid and prediction.confidence is not None]
    confidences = [prediction.confidence or 0.0 for prediction in valid]
    correct = [prediction.correct for prediction in valid]
    table = reliability_table(confidences, correct, bins=bins)
    figure = _figure(5.5, 5.0)
    axis = figure.add_subplot()
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.bar((table["low"] + table["high"]) / 2, table["accuracy"], width=1 / bins * 0.9, alpha=0.7,
             label="accuracy in the bin")
    axis.plot(table["confidence"], table["accuracy"], marker="o", color="tab:red", label="mean confidence")
    for _, row in table.iterrows():
        axis.annotate(str(int(row["n"])), ((row["low"] + row["high"]) / 2, row["accuracy"]), ha="center",
                      textcoords="offset points", xytext=(0, 3), fontsize=7)
    ece = expected_calibration_error(confidences, correct, bins=bins) if valid else float("nan")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.05)
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.legend(loc="upper left", fontsize=8)
    axis.set_title(f"{result.prompt_version} · {result.policy}: expected calibration error {ece:.3f}")
    return figure
