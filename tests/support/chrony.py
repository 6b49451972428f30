"""A real chronyd serving NTP on a loopback port, optionally skewed with faketime.

    with running_chronyd(tmp_path) as server:                 # in step, stratum 8
        query(server.address)
    with running_chronyd(tmp_path, offset_s=90) as server:    # serves time 90 s ahead
        ...
    with running_chronyd(tmp_path, synchronised=False):       # answers with leap 3
        ...

chronyd runs in the foreground (``-d``) with ``-x`` so it never touches the system clock,
from a config file in the given directory: no ``server`` lines, ``local stratum`` to
serve its own clock (omitted for an unsynchronised server, which then answers with leap
indicator 3 and stratum 0), no command port or socket, pid and drift files in the
directory. A skew runs it under ``faketime -f "+90s"``: libfaketime's LD_PRELOAD covers
chronyd's clock_gettime calls, and ``start_chronyd`` verifies the served offset before
handing the server over, so a faketime that silently does nothing fails loudly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin")
# How far the served offset may stray from the requested skew (loopback, one query).
OFFSET_SLACK_S = 0.25


class ChronyStartError(RuntimeError):
    """chronyd did not come up as asked (exited, never answered, or was not skewed)."""


def find_binary(name: str) -> str | None:
    """The path of ``name`` on PATH or in the usual sbin/bin folders, or None."""
    found = shutil.which(name)
    if found:
        return found
    return next(
        (p for p in (os.path.join(d, name) for d in SEARCH_DIRS) if os.access(p, os.X_OK)),
        None,
    )


def free_udp_port(host: str = "127.0.0.1") -> int:
    """An ephemeral UDP port that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def closed_udp_port(host: str = "127.0.0.1") -> int:
    """A loopback UDP port with no listener: an NTP server that never answers."""
    return free_udp_port(host)


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def query(host: str, port: int, timeout: float = 1.0) -> Any:
    """One NTPv4 query with ntplib; returns its NTPStats (offset, leap, stratum...)."""
    import ntplib

    return ntplib.NTPClient().request(host, version=4, port=port, timeout=timeout)


@dataclass
class ChronyServer:
    """A running chronyd: where it listens, what it was asked to serve, its process."""

    host: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    offset_s: float | None = None
    synchronised: bool = True

    @property
    def address(self) -> str:
        """``HOST:PORT`` as clock.servers and ``--server`` take it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "chronyd.log"

    @property
    def pid_path(self) -> Path:
        return self.workdir / "chronyd.pid"

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def _chronyd_pid(self) -> int | None:
        # Under faketime the Popen is faketime's wrapper process; chronyd is its child and
        # writes its own pid here. Signalling chronyd lets the wrapper reap it and exit.
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate chronyd (and its faketime wrapper), bounded; SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        pid = self._chronyd_pid() or self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
        for target in {pid, self.process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)


def write_config(
    workdir: Path, host: str, port: int, *, synchronised: bool = True, stratum: int = 8
) -> Path:
    lines = [
        f"port {port}",
        f"bindaddress {host}",
        f"allow {host}",
        "cmdport 0",
        "bindcmdaddress /",  # no Unix command socket under /run/chrony
        f"pidfile {workdir / 'chronyd.pid'}",
        f"driftfile {workdir / 'chronyd.drift'}",
    ]
    if synchronised:
        lines.insert(3, f"local stratum {stratum}")
    path = workdir / "chronyd.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _command(config: Path, chronyd: str, faketime: str | None, offset_s: float | None) -> list[str]:
    # As root chronyd would switch to the _chrony user, which cannot write the test's
    # directory: stay root. As anyone else, -U skips its root check.
    user = ["-u", "root"] if os.geteuid() == 0 else ["-U"]
    command = [chronyd, "-x", "-d", "-f", str(config), *user]
    if offset_s is not None:
        if faketime is None:
            raise ChronyStartError("a skewed chronyd needs faketime")
        command = [faketime, "-f", f"{offset_s:+g}s", *command]
    return command


def _wait_ready(server: ChronyServer, deadline: float) -> Any:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ChronyStartError(
                f"chronyd exited with {server.process.returncode}: {server.log().strip()[-500:]}"
            )
        try:
            return query(server.host, server.port, timeout=0.2)
        except Exception:  # not listening yet
            time.sleep(0.02)
    raise ChronyStartError(f"chronyd did not answer on {server.address}: {server.log()[-500:]}")


def _verify(server: ChronyServer, stats: Any) -> None:
    if not server.synchronised:
        if stats.leap != 3:
            raise ChronyStartError(f"unsynchronised chronyd answered with leap {stats.leap}")
        return
    if stats.leap == 3:
        raise ChronyStartError("chronyd answered unsynchronised (leap 3)")
    wanted = server.offset_s or 0.0
    if abs(stats.offset - wanted) > OFFSET_SLACK_S:
        raise ChronyStartError(
            f"chronyd serves offset {stats.offset:+.3f} s, wanted {wanted:+g} s "
            "(faketime's LD_PRELOAD did not take?)"
        )


def start_chronyd(
    workdir: Path,
    *,
    offset_s: float | None = None,
    synchronised: bool = True,
    host: str = "127.0.0.1",
    stratum: int = 8,
    chronyd: str | None = None,
    faketime: str | None = None,
    ready_timeout: float = 10.0,
    attempts: int = 3,
) -> ChronyServer:
    """Start chronyd on an ephemeral UDP port of ``host`` and wait until it answers.

    ``offset_s`` skews the time it serves (via faketime); ``synchronised=False`` starts it
    with no reference so it answers with leap 3. Raises ChronyStartError (after stopping
    the process) when it exits, never answers or serves the wrong time.
    """
    chronyd = chronyd or find_binary("chronyd")
    if chronyd is None:
        raise ChronyStartError("chronyd is not installed")
    if offset_s is not None:
        faketime = faketime or find_binary("faketime")
    workdir.mkdir(parents=True, exist_ok=True)
    last_error: ChronyStartError | None = None
    for _ in range(attempts):  # another process may grab the port between probe and bind
        port = free_udp_port(host)
        config = write_config(workdir, host, port, synchronised=synchronised, stratum=stratum)
        (workdir / "chronyd.pid").unlink(missing_ok=True)
        with open(workdir / "chronyd.log", "wb") as log:
            process = subprocess.Popen(
                _command(config, chronyd, faketime, offset_s),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ChronyServer(host, port, workdir, process, offset_s, synchronised)
        try:
            _verify(server, _wait_ready(server, time.monotonic() + ready_timeout))
            return server
        except ChronyStartError as exc:
            server.stop()
            last_error = exc
            if "exited" not in str(exc):
                raise
    assert last_error is not None
    raise last_error


@contextlib.contextmanager
def running_chronyd(workdir: Path, **kwargs: Any) -> Iterator[ChronyServer]:
    """``start_chronyd`` as a context manager that always stops the server."""
    server = start_chronyd(workdir, **kwargs)
    try:
        yield server
    finally:
        server.stop()
