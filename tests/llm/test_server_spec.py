"""How llama-server is launched and located, without starting it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.llm.binary import BUILD_FLAGS, build_dir, find_llama_server, load_source
from sdr_pipeline.llm.server import SERVER_NAME, process_spec
from sdr_pipeline.settings import Settings


def _fake_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_spec_binds_localhost_and_passes_context_threads_and_slots(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, cache_dir=tmp_path, llm_port=18123, llm_context=3072, llm_threads=3,
                        llm_parallel=2, llm_server_bin=_fake_binary(tmp_path / "bin" / "llama-server"))
    spec = process_spec(settings, "smollm2-135m-instruct-q4_1", check=False)
    argv = spec.argv
    assert spec.name == SERVER_NAME and (spec.host, spec.port) == ("127.0.0.1", 18123)
    assert spec.port_setting == "SDR_LLM_PORT"
    pairs = dict(zip(argv[1::], argv[2::]))
    assert pairs["--host"] == "127.0.0.1" and pairs["--port"] == "18123"
    assert pairs["--ctx-size"] == "3072" and pairs["--threads"] == "3" and pairs["--parallel"] == "2"
    assert pairs["--alias"] == "smollm2-135m-instruct-q4_1"
    assert pairs["--model"].endswith("smollm2-135m-instruct-q4_1.gguf")
    assert spec.health() is False  # nothing listens there; must not raise


def test_context_never_exceeds_what_the_model_was_trained_for(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, cache_dir=tmp_path, llm_context=65536)
    argv = process_spec(settings, "smollm2-135m-instruct-q4_1", check=False).argv
    assert argv[argv.index("--ctx-size") + 1] == "8192"


def test_a_missing_model_names_the_pull_command(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, cache_dir=tmp_path)
    with pytest.raises(UserError, match="run: sdr-pipeline llm pull qwen2.5-coder-1.5b-instruct-q4_k_m"):
        process_spec(settings)


def test_the_build_is_found_only_with_a_matching_stamp(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, cache_dir=tmp_path)
    root = build_dir(settings)
    binary = _fake_binary(root / "bin" / "llama-server")
    assert find_llama_server(settings) is None  # no stamp yet
    source = load_source()
    stamp = {"package": source.package, "version": source.version, "sdist_sha256": source.sdist_sha256,
             "flags": list(BUILD_FLAGS), "binary_bytes": binary.stat().st_size}
    (root / "build.stamp.json").write_text(json.dumps(stamp))
    assert find_llama_server(settings) == binary
    (root / "build.stamp.json").write_text(json.dumps({**stamp, "flags": ["-DGGML_NATIVE=ON"]}))
    assert find_llama_server(settings) is None  # other flags: rebuild


def test_an_explicit_binary_setting_wins_and_is_checked(tmp_path: Path) -> None:
    explicit = _fake_binary(tmp_path / "elsewhere" / "llama-server")
    assert find_llama_server(Settings(_env_file=None, cache_dir=tmp_path, llm_server_bin=explicit)) == explicit
    os.chmod(explicit, 0o644)
    with pytest.raises(UserError, match="SDR_LLM_SERVER_BIN"):
        find_llama_server(Settings(_env_file=None, cache_dir=tmp_path, llm_server_bin=explicit))
