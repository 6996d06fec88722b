"""The evaluation lab's data side: labelled routing datasets and the metrics to score a router on them.

`datasets` loads and validates JSONL datasets (written by `python -m tools.datagen`, outside the package),
`metrics` computes accuracy, macro-F1, per-class precision/recall, Wilson intervals and McNemar's test.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names, imported on first use: the metrics pull in scikit-learn and statsmodels, which
# would otherwise slow every `sdr-pipeline` command down by seconds.
_LAZY = {
    "Example": "datasets",
    "Interval": "metrics",
    "McNemarResult": "metrics",
    "ROUTING_LABELS": "datasets",
    "SPLITS": "datasets",
    "accuracy": "metrics",
    "confusion_matrix": "metrics",
    "count_table": "datasets",
    "dataset_sha256": "datasets",
    "load_dataset": "datasets",
    "macro_f1": "metrics",
    "mcnemar": "metrics",
    "per_class_precision": "metrics",
    "per_class_recall": "metrics",
    "to_frame": "datasets",
    "wilson_interval": "metrics",
    "write_dataset": "datasets",
}

__all__ = [
    "ROUTING_LABELS",
    "SPLITS",
    "Example",
    "Interval",
    "McNemarResult",
    "accuracy",
    "confusion_matrix",
    "count_table",
    "dataset_sha256",
    "load_dataset",
    "macro_f1",
    "mcnemar",
    "per_class_precision",
    "per_class_recall",
    "to_frame",
    "wilson_interval",
    "write_dataset",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"sdr_pipeline.evals.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'sdr_pipeline.evals' has no attribute {name!r}")
