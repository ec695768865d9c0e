"""Run the development stack in one terminal: web server, Celery worker and beat.

``python -m prm.devrun`` (what ``make demo`` ends with) starts

* ``manage.py runserver 0.0.0.0:$PORT`` (PORT defaults to 8000),
* ``celery -A prm worker -l info --concurrency 2``,
* ``celery -A prm beat`` with its schedule file under ``.devdata/``,

prints where each tenant's portal and console and the platform admin are, and
the demo logins (``partners.defaults``). Ctrl-C or SIGTERM is forwarded to
every child, which is then waited for; if any child dies, the others are
stopped and devrun exits with that child's status.

The servers it talks to come from the environment (``make demo`` exports the
embedded PostgreSQL/Redis URLs via ``prm.devservices``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PRM_DEVDATA", ROOT / ".devdata"))
STOP_TIMEOUT = 20.0
POLL_SECONDS = 0.5


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None


def commands(port: str) -> list[Child]:
    python = sys.executable
    DATA.mkdir(parents=True, exist_ok=True)
    return [
        Child("web", [python, "manage.py", "runserver", f"0.0.0.0:{port}"]),
        Child(
            "worker",
            [python, "-m", "celery", "-A", "prm", "worker", "-l", "info", "--concurrency", "2"],
        ),
        Child(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "prm",
                "beat",
                "-l",
                "info",
                "--schedule",
                str(DATA / "celerybeat-schedule"),
            ],
        ),
    ]


def banner(port: str) -> str:
    """Where things are and how to sign in, read from the database and partners.defaults."""
    import django

    django.setup()
    from django.conf import settings

    from partners.defaults import DEMO_LOGINS, DEMO_OPERATOR_EMAIL, DEMO_PASSWORD
    from prm.tenancy.models import Tenant

    suffix = "" if port == "80" else f":{port}"
    lines = [
        "",
        "PRM is starting:",
        f"  platform admin  http://{settings.PLATFORM_HOST}{suffix}/",
    ]
    tenants = list(Tenant.objects.filter(is_active=True).prefetch_related("domains"))
    if not tenants:
        lines.append(
            "  no tenants yet: run `manage.py seed_demo`, or provision one in the platform admin"
        )
    for tenant in tenants:
        base = f"http://{tenant.primary_host}{suffix}"
        lines += [
            f"  {tenant.name} ({tenant.slug})",
            f"    portal   {base}/",
            f"    console  {base}/console/",
        ]
    lines += ["", f"Demo logins (password {DEMO_PASSWORD}):"]
    lines.append(f"  {'platform':<10} {DEMO_OPERATOR_EMAIL:<34} platform operator")
    for slug, email, role in DEMO_LOGINS:
        lines.append(f"  {slug:<10} {email:<34} {role}")
    lines += ["", "Press Ctrl-C to stop everything.", ""]
    return "\n".join(lines)


class Supervisor:
    def __init__(self, children: list[Child]):
        self.children = children
        self.stopping = False

    def start(self) -> None:
        for child in self.children:
            # Each child leads its own process group, so a signal reaches the
            # processes it starts too (runserver's reloader, worker pool).
            child.process = subprocess.Popen(child.argv, cwd=ROOT, start_new_session=True)  # noqa: S603
            print(f"started {child.name} (pid {child.process.pid})", flush=True)

    def _signal_all(self, signum: int) -> None:
        for child in self.children:
            if child.process and child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signum)

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{child.name} did not stop in time; killing it", flush=True)
                self._signal_all(signal.SIGKILL)
                child.process.wait()

    def handle_signal(self, signum, frame) -> None:
        raise KeyboardInterrupt

    def run(self, announce: str = "") -> int:
        previous = {
            signum: signal.signal(signum, self.handle_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start()
            if announce:
                print(announce, flush=True)
            while True:
                for child in self.children:
                    code = child.process.poll() if child.process else None
                    if code is not None:
                        print(f"{child.name} exited with status {code}; stopping", flush=True)
                        # Killed by a signal: the shell's convention, 128 + signal.
                        return 128 - code if code < 0 else code or 1
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            print("\nstopping…", flush=True)
            return 0
        finally:
            # Further Ctrl-C presses must not interrupt the orderly shutdown.
            for signum in previous:
                signal.signal(signum, signal.SIG_IGN)
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.dev")
    sys.path.insert(0, str(ROOT))
    port = os.environ.get("PORT", "8000")
    try:
        announce = banner(port)
    except Exception as exc:  # noqa: BLE001 - the stack still starts; the banner is a convenience
        announce = f"(could not list the tenants: {exc})"
    return Supervisor(commands(port)).run(announce)


if __name__ == "__main__":
    sys.exit(main())
