"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temp dir, a free port.

PostgreSQL refuses to run as root: as root (CI), the cluster belongs to the `postgres` user
the Debian package creates, and its commands run through `runuser`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "pg-test-secret-3c9a"
USER = "labsync"
DATABASE = "labsync"


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    def url(self, password: str = PASSWORD, database: str = DATABASE) -> str:
        return f"postgresql://{USER}:{password}@{self.host}:{self.port}/{database}"


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries missing: `make test` installs postgresql")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running() -> Iterator[Server]:
    """Start a server with a password-protected user and database; stop and delete it after."""
    root = Path(tempfile.mkdtemp(prefix="labsync-pg-"))
    data, password_file = root / "data", root / "pwfile"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(password_file, "postgres")
    binaries, port = bin_dir(), free_port()
    subprocess.run(
        _as_owner(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    )
    subprocess.run(
        _as_owner(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        import psycopg2

        server = Server("127.0.0.1", port)
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg2.connect(server.url(database="postgres")) as con:
                    con.autocommit = True
                    break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        con = psycopg2.connect(server.url(database="postgres"))
        con.autocommit = True
        con.cursor().execute(f"create database {DATABASE}")
        con.close()
        yield server
    finally:
        subprocess.run(
            _as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
