"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a cluster in a temporary
folder, reachable only through a Unix socket in that folder (no TCP port is opened).

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user the Debian
package creates; the tests connect as ``lens`` with trust authentication on the socket, which is why a
password in the URL is accepted whatever it is (what the password tests need: a URL that has one).
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import subprocess
from pathlib import Path

USER = "lens"


def server_binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: Debian keeps them outside PATH, per version."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _version(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


class Server:
    """``start()`` makes a cluster and a database; ``url`` reaches it; ``stop()`` ends the server."""

    def __init__(self, folder: Path, binaries: Path):
        self.folder, self.binaries = folder, binaries
        self.port = random.randint(20_000, 60_000)  # only names the socket file: nothing listens on TCP
        self.as_postgres = os.geteuid() == 0

    def url(self, password: str | None = None, database: str = "sweeps") -> str:
        credentials = f"{USER}:{password}" if password else USER
        return f"postgresql://{credentials}@/{database}?host={self.folder}&port={self.port}"

    def start(self) -> None:
        cluster = self.folder / "cluster"
        if self.as_postgres:  # the server's user owns its folder
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(cluster), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-k {self.folder} -p {self.port} -c listen_addresses='' -c fsync=off"
        self._run("pg_ctl", "-D", str(cluster), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")
        self._run("createdb", "-h", str(self.folder), "-p", str(self.port), "-U", USER, "sweeps")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "cluster"), "-m", "immediate", "-w", "stop", check=False)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.binaries / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr or done.stdout}")
