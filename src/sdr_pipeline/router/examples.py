"""The router's labelled example pool: nearest examples for the prompt, and a classifier for the cascade.

Both learn from the same thing — labelled messages from a dataset's `dev` split — and read a
message the same way (`message_text`): who produced it, the key paths of its context and the
text in it, so a drifted producer's `emailSubject` looks like `email subject` and a German
reply shares character n-grams with a French one. Nothing here is a routing rule: what the
pool knows comes from its labels.

The pool's `hash` covers every example's message and label, so a prompt version that shows
retrieved examples is identified by its template hash *and* its pool hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from sdr_pipeline.contracts.dataset import load_dataset
from sdr_pipeline.contracts.envelope import Envelope
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.settings import Settings

if TYPE_CHECKING:
    from sdr_pipeline.router.decision import Cascade
    from sdr_pipeline.router.prompt import RouterPrompt

__all__ = ["ExamplePool", "LabelledMessage", "RouteClassifier", "load_knowledge", "load_pool", "message_text"]

logger = logging.getLogger(__name__)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MAX_TEXT_CHARS = 3000
"""Enough of a message to recognise it; long reports add nothing but cost."""


@dataclass(frozen=True)
class LabelledMessage:
    """One message and the agent that should take it."""

    envelope: Envelope
    label: str
    id: str = ""


def _words(key: str) -> str:
    return _CAMEL.sub(" ", key).replace("_", " ").replace("-", " ").lower()


def _walk(value: Any, path: str, keys: list[str], texts: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path} {_words(str(key))}".strip()
            keys.append("k_" + "_".join(name.split()))
            _walk(item, name, keys, texts)
    elif isinstance(value, list):
        keys.append(f"k_{'_'.join(path.split())}_list{min(len(value), 4)}")
        for item in value[:6]:
            _walk(item, path, keys, texts)
    elif isinstance(value, str):
        texts.append(value)
    elif value is not None:
        texts.append(f"{path} {value}")


def message_text(envelope: Envelope) -> str:
    """The message as one line of text for TF-IDF: producer, context shape (key paths), then its text."""
    keys: list[str] = [f"producer_{_words(envelope.produced_by).replace(' ', '_')}", f"hop_{min(envelope.hop, 6)}"]
    texts: list[str] = []
    context = envelope.context
    if context is None:
        keys.append("context_null")
    elif isinstance(context, str):
        keys.append("context_text")
        texts.append(context)
    else:
        _walk(context, "", keys, texts)
    lead = envelope.lead.model_dump(mode="json", exclude_none=True)
    keys.extend(f"lead_{_words(key).replace(' ', '_')}" for key in lead)
    texts.extend(str(value) for value in lead.values() if isinstance(value, str))
    return (" ".join(keys) + " | " + " ".join(texts))[:_MAX_TEXT_CHARS]


def _vectorizer() -> FeatureUnion:
    """Words for meaning and key names, character n-grams for other languages, typos and drifted keys."""
    return FeatureUnion([
        ("words", TfidfVectorizer(token_pattern=r"[A-Za-z_][A-Za-z0-9_]+", ngram_range=(1, 2), min_df=1,
                                  sublinear_tf=True, lowercase=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True,
                                  max_features=60_000)),
    ])


class ExamplePool:
    """Labelled messages indexed for nearest-neighbour retrieval (cosine over TF-IDF)."""

    def __init__(self, examples: Sequence[LabelledMessage], *, source: str = "") -> None:
        if not examples:
            raise UserError("the router's example pool is empty", fix="point SDR_ROUTER_EXAMPLE_POOL at a dataset "
                            "with a dev split (e.g. datasets/field_v1.jsonl)")
        self.examples = tuple(examples)
        self.source = source
        texts = [message_text(example.envelope) for example in self.examples]
        self._vectorizer = _vectorizer().fit(texts)
        self._matrix = self._vectorizer.transform(texts)

    @cached_property
    def hash(self) -> str:
        """sha256 over every example's message and label, in order: what a prompt version pins."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(example.label.encode())
            digest.update(example.envelope.to_json().encode())
        return digest.hexdigest()

    def nearest(self, envelope: Envelope, k: int) -> list[LabelledMessage]:
        """The k most similar examples, most similar first (ties in pool order)."""
        if k <= 0:
            return []
        scores = (self._matrix @ self._vectorizer.transform([message_text(envelope)]).T).toarray().ravel()
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.examples[index] for index in order]

    def classifier(self) -> RouteClassifier:
        """A calibrated classifier trained on this pool (the cascade's first stage)."""
        return RouteClassifier(self)

    def __len__(self) -> int:
        return len(self.examples)


class RouteClassifier:
    """A linear SVM over the pool's TF-IDF, with probabilities calibrated by cross-validation (sigmoid).

    It is retrained from the pool wherever it is needed (a few seconds for two thousand examples;
    logistic regression scored the same on held-out writers and trained ten times slower), so the
    job and the lab always run the same model for the same pool hash.
    """

    def __init__(self, pool: ExamplePool) -> None:
        labels = [example.label for example in pool.examples]
        self.pool_hash = pool.hash
        self._vectorizer = pool._vectorizer
        smallest = min(labels.count(label) for label in set(labels))
        base = LinearSVC(C=1.0, class_weight="balanced")
        folds = max(2, min(5, smallest))
        self._model = CalibratedClassifierCV(base, method="sigmoid", cv=folds).fit(pool._matrix, labels)
        self.labels: tuple[str, ...] = tuple(str(label) for label in self._model.classes_)

    def probabilities(self, envelope: Envelope) -> dict[str, float]:
        """Every label with its calibrated probability."""
        row = self._model.predict_proba(self._vectorizer.transform([message_text(envelope)]))[0]
        return {label: float(p) for label, p in zip(self.labels, row, strict=True)}


def load_pool(paths: Sequence[Path], *, split: str = "dev") -> ExamplePool:
    """The example pool from the `split` of each dataset file, in the order given."""
    examples: list[LabelledMessage] = []
    for path in paths:
        examples.extend(LabelledMessage(example.message, example.expected_agent, example.id)
                        for example in load_dataset(path, split=split))
    logger.info("router example pool: %d examples from %s", len(examples), ", ".join(str(p) for p in paths))
    return ExamplePool(examples, source=", ".join(str(path) for path in paths))


def load_knowledge(settings: Settings, *, policy: str, prompts: Sequence[RouterPrompt],
                   ) -> tuple[ExamplePool | None, Cascade | None]:
    """The example pool (when a prompt shows examples or the policy is `cascade`) and the cascade."""
    from sdr_pipeline.router.decision import Cascade

    if policy != "cascade" and not any(prompt.uses_examples for prompt in prompts):
        return None, None
    pool = load_pool(settings.router_example_pool)
    if policy != "cascade":
        return pool, None
    return pool, Cascade(pool.classifier(), settings.router_cascade_accept, settings.router_review_below)


def compact_json(value: Any, *, max_chars: int) -> str:
    """One-line JSON with long strings cut, for showing an example in a prompt."""
    def cut(item: Any) -> Any:
        if isinstance(item, str):
            return item if len(item) <= max_chars else item[:max_chars] + "…"
        if isinstance(item, dict):
            return {key: cut(val) for key, val in item.items()}
        if isinstance(item, list):
            return [cut(val) for val in item[:4]]
        return item
    return json.dumps(cut(value), ensure_ascii=False, separators=(",", ":"))
