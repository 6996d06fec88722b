"""The evaluation lab's data side: labelled routing datasets and the metrics to score a router on them.

`datasets` loads and validates JSONL datasets, `generate` writes the seeded `routing_v1` dataset,
`metrics` computes accuracy, macro-F1, per-class precision/recall, Wilson intervals and McNemar's test.
"""

from sdr_pipeline.evals.datasets import (
    ROUTING_LABELS,
    SPLITS,
    Example,
    count_table,
    dataset_sha256,
    load_dataset,
    to_frame,
    write_dataset,
)
from sdr_pipeline.evals.metrics import (
    Interval,
    McNemarResult,
    accuracy,
    confusion_matrix,
    macro_f1,
    mcnemar,
    per_class_precision,
    per_class_recall,
    wilson_interval,
)

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
