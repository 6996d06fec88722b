import socket
import sys
import time

import pytest

from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra import process
from sdr_pipeline.infra.process import ProcessSpec, port_open
from sdr_pipeline.settings import Settings
from tests.conftest import free_port


@pytest.fixture
def settings(tmp_path):
    return Settings(_env_file=None, state_dir=tmp_path)


def _http_server(port: int, **overrides) -> ProcessSpec:
    fields = dict(
        name="web", argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        host="127.0.0.1", port=port, port_setting="SDR_WEB_PORT",
        health=lambda: port_open("127.0.0.1", port), start_timeout_s=20,
    )
    return ProcessSpec(**{**fields, **overrides})


def _port_closes(port: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while port_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_start_status_stop_leave_nothing_behind(settings):
    spec = _http_server(free_port())
    pid = process.start(spec, settings)
    assert process.is_running(pid)
    assert process.status(spec, settings).healthy
    assert process.start(spec, settings) == pid, "a second start must reuse the running process"
    assert process.stop("web", settings)
    assert not process.is_running(pid)
    assert _port_closes(spec.port)
    assert process.status(spec, settings).pid is None
    assert not process.stop("web", settings), "stopping twice is a no-op"


def test_busy_port_is_a_one_line_error_naming_the_setting(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UserError) as caught:
            process.start(_http_server(port), settings)
    message = str(caught.value)
    assert str(port) in message and "SDR_WEB_PORT" in message and "\n" not in message


def test_a_process_that_dies_at_start_shows_its_log(settings):
    spec = _http_server(free_port(), argv=[sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)"])
    with pytest.raises(InfraError, match="boom: bad config"):
        process.start(spec, settings)
    assert process.read_pid(settings, "web") is None


def test_a_process_that_never_gets_healthy_is_stopped(settings):
    spec = _http_server(free_port(), health=lambda: False, start_timeout_s=2)
    with pytest.raises(InfraError, match="not healthy"):
        process.start(spec, settings)
    assert process.read_pid(settings, "web") is None
    assert _port_closes(spec.port)


def test_missing_program_names_the_fix(settings):
    spec = _http_server(free_port(), argv=["/nonexistent/binary"])
    with pytest.raises(InfraError, match="make deps"):
        process.start(spec, settings)


def test_a_second_up_leaves_a_running_part_and_its_start_hook_alone(settings):
    from sdr_pipeline.infra import stack

    port = free_port()
    marker = settings.run_dir / "web.ready"
    hooks: list[str] = []

    def forget_marker(_settings):  # like the router's hook: forget an earlier run's ready file
        hooks.append("before")
        marker.unlink(missing_ok=True)

    part = stack.Part("web", lambda _settings: _http_server(port), before_start=forget_marker,
                      after_start=lambda _settings: hooks.append("after"))
    try:
        stack.up(settings, [part])
        first = process.read_pid(settings, "web")
        marker.write_text("ready")  # what the running process writes once it serves
        stack.up(settings, [part])
        assert process.read_pid(settings, "web") == first
        assert hooks == ["before", "after", "after"]
        assert marker.exists(), "the running part's ready file was deleted by a second up"
    finally:
        process.stop("web", settings)
