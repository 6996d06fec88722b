"""The secrets one stack's processes share: from settings, or made once for a stack that is local only.

A deployment sets `SDR_DISPATCH_SECRET` and `SDR_INBOUND_WEBHOOK_SECRET` (the same values for the
routing job, the agents and intake). A local stack, whose agents and intake listen on loopback
only, need not: the first process that asks makes a random key in `<state_dir>/secrets/` (mode
0600), and every other process of the stack, sharing that folder, reads the same one. A stack
that listens beyond loopback with a secret unset refuses to start, saying which to set.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Literal

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.settings import Settings

__all__ = ["SecretName", "local_only", "shared_secret"]

logger = logging.getLogger(__name__)

SecretName = Literal["dispatch", "inbound_webhook"]

_FIX = {
    "dispatch": "set SDR_DISPATCH_SECRET to one long random value (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))') for the routing job, the agents and intake alike",
    "inbound_webhook": "set SDR_INBOUND_WEBHOOK_SECRET to the signing secret of the e-mail provider or relay "
                       "that posts replies to /api/inbound-email",
}


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_only(settings: Settings) -> bool:
    """True when the agents and intake listen on loopback only: a generated per-stack secret is then enough."""
    return _loopback(settings.agents_host) and _loopback(settings.intake_host)


def shared_secret(settings: Settings, name: SecretName) -> str:
    """The secret `name` from settings; for a local-only stack without one, the stack's generated key.
    Raises UserError (naming the setting to set) when neither applies."""
    configured = getattr(settings, f"{name}_secret").get_secret_value()
    if configured:
        return configured
    if not local_only(settings):
        raise UserError(f"SDR_{name.upper()}_SECRET is not set, and this stack listens beyond loopback "
                        f"(agents on {settings.agents_host}, intake on {settings.intake_host}), so no key can be "
                        "made for it", fix=_FIX[name])
    path = settings.state_dir / "secrets" / f"{name}.key"
    key = _stack_key(path)
    if not key:
        raise UserError(f"the per-stack key {path} is empty", fix=f"delete it (a new one is made) or {_FIX[name]}")
    return key


def _stack_key(path: Path) -> str:
    """The key in `path`, made (atomically, readable by its owner only) if no process of the stack made it yet."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(draft, path)  # atomic: fails if another process of the stack was first, whose key then wins
        logger.info("made a per-stack key in %s (set its SDR_*_SECRET setting to use your own)", path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()
