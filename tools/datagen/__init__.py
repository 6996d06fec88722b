"""The routing-dataset generator: `python -m tools.datagen` writes a new seeded, versioned dataset.

It lives outside `src/sdr_pipeline` because the lab only reads datasets; making one is a rare,
deliberate step, done from the checkout. Its text banks are data (`phrasebook.yaml`).
"""

from tools.datagen import generate as _generate
from tools.datagen.generate import *  # noqa: F403  (the generator's API is the package's)
from tools.datagen.phrasebook import Phrasebook, load_phrasebook

__all__ = [*_generate.__all__, "Phrasebook", "load_phrasebook"]
