"""The local SMTP server: a real aiosmtpd server keeping every mail it receives in a Maildir.

`infra up` runs it (`process_spec`), send_email talks to it over SMTP like to any mail host,
and people and tests read what arrived with `read_mailbox` (or any Maildir reader) under
`<state>/mailbox`. It accepts mail for any address and relays nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import mailbox
import signal
import smtplib
import sys
import threading
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from sdr_pipeline.infra.process import ProcessSpec
from sdr_pipeline.settings import Settings

__all__ = ["mailbox_dir", "process_spec", "read_mailbox", "run", "smtp_healthy"]

logger = logging.getLogger(__name__)


def mailbox_dir(settings: Settings) -> Path:
    """The Maildir the local SMTP server writes to."""
    return settings.state_dir / "mailbox"


def read_mailbox(settings: Settings | Path) -> list[EmailMessage]:
    """Every mail the local server received, oldest first."""
    folder = settings if isinstance(settings, Path) else mailbox_dir(settings)
    if not (folder / "cur").exists() and not (folder / "new").exists():
        return []
    box = mailbox.Maildir(folder, factory=None, create=False)
    parser = BytesParser(policy=policy.default)
    messages = [(key, parser.parsebytes(box.get_bytes(key))) for key in box.keys()]
    box.close()
    return [message for _key, message in sorted(messages, key=lambda item: item[0])]


def smtp_healthy(host: str, port: int, *, timeout_s: float = 1.0) -> bool:
    """True if an SMTP server answers NOOP on host:port; never raises."""
    with contextlib.suppress(OSError, smtplib.SMTPException), smtplib.SMTP(host, port, timeout=timeout_s) as smtp:
        return smtp.noop()[0] == 250
    return False


def run(host: str, port: int, maildir: Path) -> None:
    """Serve SMTP on host:port into `maildir` until SIGTERM or SIGINT."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    controller = Controller(Mailbox(maildir), hostname=host, port=port, data_size_limit=10 * 1024 * 1024)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    controller.start()
    logger.info("SMTP server on %s:%d writing to %s", host, port, maildir)
    try:
        stopped.wait()
    finally:
        controller.stop()


def process_spec(settings: Settings) -> ProcessSpec:
    """The local SMTP server as a supervised process, on smtp_host:smtp_port."""
    return ProcessSpec(
        name="smtp",
        argv=[sys.executable, "-m", "sdr_pipeline.infra.smtp", "--host", settings.smtp_host,
              "--port", str(settings.smtp_port), "--maildir", str(mailbox_dir(settings).resolve())],
        host=settings.smtp_host, port=settings.smtp_port, port_setting="SDR_SMTP_PORT",
        health=lambda: smtp_healthy(settings.smtp_host, settings.smtp_port),
        start_timeout_s=30.0, stop_timeout_s=10.0,
    )


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local SMTP server writing every mail into a Maildir.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(args.host, args.port, args.maildir)


if __name__ == "__main__":
    _main()
