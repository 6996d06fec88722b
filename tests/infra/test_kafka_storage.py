"""The broker's storage format: a generated cluster id is always read as a value, and three nodes share one."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sdr_pipeline.infra import kafka
from sdr_pipeline.infra.jars import fetch
from sdr_pipeline.settings import Settings


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to '-' as the first URL-safe base64 character; the second draw does not.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x10" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka.new_cluster_id()
    assert cluster_id == "EBAQEBAQEBAQEBAQEBAQEA"


@pytest.mark.kafka
def test_storage_formats_with_an_id_that_looks_like_an_option(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The real storage tool is given a leading-dash id (what one draw in 64 used to produce)."""
    dashed = "-" + "A" * 20 + "Q"  # 22 characters of URL-safe base64: 16 bytes
    monkeypatch.setattr(kafka, "new_cluster_id", lambda: dashed)
    settings = Settings(state_dir=tmp_path)
    fetch(settings)
    kafka.prepare_broker(settings)
    meta = (tmp_path / "kafka" / "data" / "meta.properties").read_text()
    assert f"cluster.id={dashed}" in meta


@pytest.mark.kafka
def test_three_nodes_are_formatted_with_one_cluster_id_once(tmp_path: Path) -> None:
    """The real storage tool formats each node's folder with the shared id; a second prepare keeps it."""
    settings = Settings(state_dir=tmp_path, kafka_brokers=3, kafka_port=30000, kafka_controller_port=30001)
    fetch(settings)
    kafka.prepare_broker(settings)

    def meta(folder: str) -> dict[str, str]:
        text = (tmp_path / folder / "data" / "meta.properties").read_text()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))

    metas = [meta(folder) for folder in ("kafka", "kafka-2", "kafka-3")]
    assert [m["node.id"] for m in metas] == ["1", "2", "3"]
    assert len({m["cluster.id"] for m in metas}) == 1
    record = (tmp_path / "kafka" / "cluster.properties").read_text()
    assert f"cluster.id={metas[0]['cluster.id']}" in record and "brokers=3" in record
    kafka.prepare_broker(settings)
    assert [meta(folder)["cluster.id"] for folder in ("kafka", "kafka-2", "kafka-3")] == [metas[0]["cluster.id"]] * 3
