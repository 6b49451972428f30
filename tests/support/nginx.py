"""A real nginx on loopback for tests: one config in its own prefix, bounded start and stop.

    port = free_port()
    with running_nginx(binary, tmp_path / "edge", f"server {{ listen 127.0.0.1:{port}; ... }}",
                       ports=[port]) as nginx:
        ...   # nginx.url(port), nginx.error_log()

The helper wraps the given `server { ... }` blocks in a complete configuration: foreground
(`daemon off`), a single process (`master_process off`, so no user switch and no
permission problems in tmp_path), its own pid file, error log and every `*_temp_path`
under the prefix. Start-up waits (bounded) until every port accepts connections; a config
nginx refuses raises NginxError with the error log. Stop sends SIGQUIT, then SIGKILL.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{servers}
}}
"""


class NginxError(RuntimeError):
    """nginx refused the configuration or did not come up in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port that was free a moment ago (nginx binds it itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    """A running nginx: its prefix, configuration and process."""

    prefix: Path
    config: Path
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"

    def url(self, port: int, scheme: str = "https", path: str = "/") -> str:
        return f"{scheme}://{self.host}:{port}{path}"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def write_config(prefix: Path, servers: str) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(TEMPLATE.format(prefix=prefix, servers=servers))
    return config


def _accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(3)  # SIGQUIT: graceful shutdown
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextmanager
def running_nginx(
    binary: str,
    prefix: Path,
    servers: str,
    *,
    ports: Sequence[int],
    host: str = "127.0.0.1",
    start_timeout: float = 10.0,
    stop_timeout: float = 5.0,
) -> Iterator[Nginx]:
    """Start nginx with ``servers`` (the blocks inside ``http {}``); stop it afterwards."""
    config = write_config(prefix, servers)
    error_log = prefix / "error.log"
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(config), "-e", str(error_log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    nginx = Nginx(prefix, config, process, host)
    try:
        deadline = time.monotonic() + start_timeout
        pending = list(ports)
        while pending:
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise NginxError(f"nginx exited with {process.returncode}:\n{stderr}\n"
                                 f"{nginx.error_log()}")
            pending = [p for p in pending if not _accepting(host, p)]
            if pending and time.monotonic() > deadline:
                raise NginxError(f"nginx did not listen on {pending} within {start_timeout:g}s:"
                                 f"\n{nginx.error_log()}")
            if pending:
                time.sleep(0.02)
        yield nginx
    finally:
        _stop(process, stop_timeout)
        if process.stderr:
            process.stderr.close()
