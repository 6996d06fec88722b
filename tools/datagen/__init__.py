"""The routing-dataset generator: `python -m tools.datagen` writes a new seeded, versioned dataset.

It lives outside `src/sdr_pipeline` because the lab only reads datasets; making one is a rare,
deliberate step, done from the checkout. Its text banks are data (`phrasebook.yaml`).
"""

from tools.datagen.generate import (
    DATASET_NAME,
    DATASETS_DIR,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    HARD_CASES_FILE,
    GeneratedDataset,
    assign_splits,
    generate_dataset,
    generate_examples,
    next_free_name,
)
from tools.datagen.phrasebook import Phrasebook, load_phrasebook

__all__ = [
    "DATASETS_DIR",
    "DATASET_NAME",
    "DEFAULT_SEED",
    "DEFAULT_TEST_FRACTION",
    "HARD_CASES_FILE",
    "GeneratedDataset",
    "Phrasebook",
    "assign_splits",
    "generate_dataset",
    "generate_examples",
    "load_phrasebook",
    "next_free_name",
]
