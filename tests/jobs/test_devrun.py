"""prm.devrun: the banner it prints and how it supervises its children."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from partners.defaults import DEMO_LOGINS, DEMO_PASSWORD
from prm.devrun import Child, Supervisor, banner, commands

TERM_AWARE_CHILD = """
import signal, sys, time
path = sys.argv[1]
def stop(*_):
    open(path, "w").write("terminated")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(path + ".ready", "w").write("ready")
while True:
    time.sleep(0.1)
"""


def _sleeper(tmp_path: Path, name: str) -> Child:
    return Child(name, [sys.executable, "-c", TERM_AWARE_CHILD, str(tmp_path / name)])


def _wait_until_ready(tmp_path: Path, *names: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all((tmp_path / f"{name}.ready").exists() for name in names):
            return
        time.sleep(0.05)
    pytest.fail("children did not start")


def test_the_stack_is_web_worker_and_beat_with_a_schedule_under_devdata():
    children = {child.name: child.argv for child in commands("8123")}
    assert children["web"][1:] == ["manage.py", "runserver", "0.0.0.0:8123"]
    assert children["worker"][1:] == [
        "-m",
        "celery",
        "-A",
        "prm",
        "worker",
        "-l",
        "info",
        "--concurrency",
        "2",
    ]
    assert children["beat"][1:6] == ["-m", "celery", "-A", "prm", "beat"]
    assert children["beat"][-1].endswith("celerybeat-schedule")


@pytest.mark.django_db
def test_banner_lists_each_tenants_portal_and_console_and_the_demo_logins(tenant_a, tenant_b):
    text = banner("8000")
    assert "http://localhost:8000/" in text
    for host in ["alpha.localhost", "bravo.localhost"]:
        assert f"http://{host}:8000/\n" in text
        assert f"http://{host}:8000/console/" in text
    assert DEMO_PASSWORD in text
    for _slug, email, role in DEMO_LOGINS:
        assert email in text
        assert role in text


def test_when_one_child_dies_the_others_are_stopped_and_its_status_returned(tmp_path):
    sleeper = _sleeper(tmp_path, "sleeper")
    # The quitter exits once the sleeper is up (so the sleeper's handler is set).
    ready = tmp_path / "sleeper.ready"
    quit_when_ready = (
        "import os, sys, time\n"
        f"while not os.path.exists({str(ready)!r}): time.sleep(0.05)\n"
        "sys.exit(3)\n"
    )
    quitter = Child("quitter", [sys.executable, "-c", quit_when_ready])
    assert Supervisor([sleeper, quitter]).run() == 3
    assert sleeper.process.poll() is not None
    assert (tmp_path / "sleeper").read_text() == "terminated"


def test_sigterm_is_forwarded_to_every_child_and_waited_for(tmp_path):
    children = [_sleeper(tmp_path, "one"), _sleeper(tmp_path, "two")]
    previous = signal.getsignal(signal.SIGTERM)

    def send_sigterm_when_ready():
        _wait_until_ready(tmp_path, "one", "two")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send_sigterm_when_ready, daemon=True).start()
    assert Supervisor(children).run() == 0
    for child in children:
        assert child.process.returncode == 0  # exited on its own SIGTERM handler
        assert (tmp_path / child.name).read_text() == "terminated"
    assert signal.getsignal(signal.SIGTERM) is previous
