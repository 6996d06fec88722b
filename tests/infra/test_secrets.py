"""The stack's shared secrets: configured ones win, a local-only stack makes one key for all its processes,
and a stack beyond loopback without one refuses to start, naming the setting."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra.secrets import local_only, shared_secret
from sdr_pipeline.settings import Settings


def test_a_configured_secret_is_used_as_it_is(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path, dispatch_secret=SecretStr("from-settings"),
                        agents_host="0.0.0.0")
    assert shared_secret(settings, "dispatch") == "from-settings"
    assert not (tmp_path / "secrets").exists()


def test_a_local_stack_makes_one_private_key_that_every_process_reads(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path)
    assert local_only(settings)
    key = shared_secret(settings, "dispatch")
    path = tmp_path / "secrets" / "dispatch.key"
    assert len(key) >= 40 and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert shared_secret(settings, "dispatch") == key
    assert shared_secret(settings, "inbound_webhook") != key  # one key per purpose
    child = subprocess.run([sys.executable, "-c", "import sys; from sdr_pipeline.settings import Settings; "
                            "from sdr_pipeline.infra.secrets import shared_secret; "
                            "print(shared_secret(Settings(_env_file=None, state_dir=sys.argv[1]), 'dispatch'))",
                            str(tmp_path)], capture_output=True, text=True, check=True, timeout=60)
    assert child.stdout.strip() == key


@pytest.mark.parametrize(("host_setting", "name", "setting"), [
    ("agents_host", "dispatch", "SDR_DISPATCH_SECRET"),
    ("intake_host", "inbound_webhook", "SDR_INBOUND_WEBHOOK_SECRET"),
])
def test_beyond_loopback_an_unset_secret_is_a_clear_error(tmp_path: Path, host_setting: str, name: str,
                                                          setting: str) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path, **{host_setting: "0.0.0.0"})
    with pytest.raises(UserError, match=f"{setting} is not set") as raised:
        shared_secret(settings, name)  # type: ignore[arg-type]
    assert setting in (raised.value.fix or "")
    assert not (tmp_path / "secrets").exists()


def test_an_emptied_key_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "dispatch.key").write_text("\n")
    with pytest.raises(UserError, match="is empty"):
        shared_secret(Settings(_env_file=None, state_dir=tmp_path), "dispatch")
