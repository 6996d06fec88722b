"""Logs under <state>/logs are capped: rotated by size, a few backups kept, nothing lost in between."""

from __future__ import annotations

import io
import sys

from sdr_pipeline.infra import process
from sdr_pipeline.infra.log_rotation import RotatingLog, pump
from sdr_pipeline.infra.process import ProcessSpec
from sdr_pipeline.settings import Settings


def test_a_log_rotates_before_it_passes_its_cap_and_keeps_its_backups(tmp_path):
    path = tmp_path / "web.log"
    lines = [f"line {n:04d} ".encode() + b"x" * 80 + b"\n" for n in range(100)]  # 91 bytes each
    pump(io.BytesIO(b"".join(lines)), path, max_bytes=1_000, backups=2)
    files = [path, path.with_name("web.log.1"), path.with_name("web.log.2")]
    assert all(f.stat().st_size <= 1_000 for f in files)
    assert not path.with_name("web.log.3").exists()
    kept = b"".join(f.read_bytes() for f in reversed(files))
    assert kept == b"".join(lines)[-len(kept):], "the newest lines are kept, in order"
    assert kept.endswith(lines[-1])


def test_a_reopened_log_counts_what_it_already_holds(tmp_path):
    path = tmp_path / "web.log"
    path.write_bytes(b"y" * 900)
    log = RotatingLog(path, max_bytes=1_000, backups=1)
    log.write(b"z" * 200)
    log.close()
    assert path.read_bytes() == b"z" * 200 and path.with_name("web.log.1").read_bytes() == b"y" * 900


def test_a_supervised_process_writes_a_capped_log(tmp_path):
    settings = Settings(_env_file=None, state_dir=tmp_path, log_max_bytes=100_000, log_backups=2)
    chatty = "import sys, time\nfor n in range(4000): print(f'{n:06d}', 'x' * 90)\nprint('done', flush=True)\n" \
             "time.sleep(30)"
    spec = ProcessSpec(name="chatty", argv=[sys.executable, "-c", chatty], host="127.0.0.1", port=None,
                       port_setting=None, health=lambda: "done" in process.log_tail(settings, "chatty", lines=1),
                       start_timeout_s=20)
    try:
        process.start(spec, settings)
    finally:
        process.stop("chatty", settings)
    logs = settings.logs_dir
    assert (logs / "chatty.log").stat().st_size <= 100_000
    assert (logs / "chatty.log.1").stat().st_size <= 100_000
    assert (logs / "chatty.log.2").exists() and not (logs / "chatty.log.3").exists()
