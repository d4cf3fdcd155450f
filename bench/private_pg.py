"""A PostgreSQL cluster of our own for the fault campaign and the scaling bench: initdb in a
temporary directory, started on a free port, restarted or killed at will, removed after. The
shared server on 5432 is never touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elsewhere.control.serve.server import free_port


def postgres_bin() -> Path | None:
    """The directory of initdb/pg_ctl (Debian keeps them out of PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, on a free port: restarting or
    killing it disturbs nobody. As root, the server runs as user postgres (it refuses root)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="elsewhere-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self.options += " -c max_connections=200"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")

    def pg_ctl(self, *args: str) -> None:
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", self.options, "-w", *args)

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self, mode: str = "immediate") -> None:
        """`immediate`: the server stops without a shutdown checkpoint (as after a crash) and
        recovers from its WAL when it starts again."""
        self.pg_ctl("restart", "-m", mode)

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres | None]:
    """A started private cluster, removed afterwards; None when initdb is absent."""
    found = postgres_bin()
    if found is None:
        yield None
        return
    pg = PrivatePostgres(found)
    try:
        pg.start()
        yield pg
    finally:
        pg.remove()
