"""Fixtures for the edge tests: a real nginx on loopback in front of the reference receiver.

Session-scoped: the private CA and its certificates, the reference receiver (docs open, so
the edge decides), the correct edge. Each test module starts the broken edges it needs once
(`edges.start(...)`), and they stop when the module ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CANARY_WEBHOOK_SECRET, require_binary
from tests.edge import configs
from tests.support.nginx import free_port, running_nginx
from tests.support.tls import CertFiles, ca_bundle, issue, make_ca

ADMIN_TOKEN = "adm_CANARYadmintoken3e5f"


@dataclass(frozen=True)
class Pki:
    """The test CA's bundle and its leaf certificates."""

    bundle: Path
    valid: CertFiles
    expiring: CertFiles  # 10 days left: fails
    soon: CertFiles  # 20 days left: warns
    wrong_host: CertFiles


@dataclass(frozen=True)
class Edge:
    """A running edge: its https URL, its plain-HTTP URL and the origin behind it."""

    url: str
    http_url: str
    origin: str

    def overrides(self, pki: Pki, **extra: object) -> dict[str, object]:
        return {"url": self.url, "http_url": self.http_url, "ca_bundle": str(pki.bundle),
                **extra}


class Edges:
    """Starts nginx configurations on demand; stops them all at the end of the scope."""

    def __init__(self, binary: str, root: Path, stack: ExitStack) -> None:
        self.binary, self.root, self.stack = binary, root, stack

    def start(
        self, name: str, build: Callable[[int, int], str], *, origin: str = ""
    ) -> Edge:
        https, http = free_port(), free_port()
        self.stack.enter_context(
            running_nginx(self.binary, self.root / name, build(https, http), ports=[https, http])
        )
        return Edge(f"https://127.0.0.1:{https}/", f"http://127.0.0.1:{http}/", origin)

    def start_ports(self, name: str, count: int, build: Callable[[list[int]], str]) -> list[int]:
        """Any number of server blocks in one nginx: ``build`` gets ``count`` free ports."""
        ports = [free_port() for _ in range(count)]
        self.stack.enter_context(
            running_nginx(self.binary, self.root / name, build(ports), ports=ports)
        )
        return ports


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    return require_binary("nginx")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    hosts = ("localhost", "127.0.0.1")
    return Pki(
        bundle=ca_bundle(ca, directory),
        valid=issue(ca, directory, "valid", *hosts),
        expiring=issue(ca, directory, "expiring", *hosts, days=10),
        soon=issue(ca, directory, "soon", *hosts, days=20),
        wrong_host=issue(ca, directory, "wrong-host", "other.example"),
    )


@pytest.fixture(scope="session")
def secret_ref(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("secrets") / "webhook_secret"
    path.write_text(CANARY_WEBHOOK_SECRET + "\n")
    return f"file:{path}"


@pytest.fixture(scope="session")
def status_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("static") / "admin-status.json"
    path.write_text('{"status": "ok", "operator": true}\n')
    return path


@contextmanager
def reference_receiver(
    tmp: Path, docs: str, *, scheme: str = "stripe", secret: str = CANARY_WEBHOOK_SECRET
) -> Iterator[str]:
    """The reference receiver on an ephemeral port with its own SQLite file."""
    from neruba_harden.reference.server import running_receiver
    from neruba_harden.reference.settings import ReceiverSettings

    settings = ReceiverSettings(
        db_url=f"sqlite:///{tmp / 'receiver.db'}", secrets=[secret], scheme=scheme,
        admin_token=ADMIN_TOKEN, docs=docs,
    )
    with running_receiver(settings) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference receiver with docs open: whether they are reachable is the edge's call."""
    with reference_receiver(tmp_path_factory.mktemp("receiver"), docs="open") as url:
        yield url


@pytest.fixture(scope="session")
def session_edges(nginx_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    with ExitStack() as stack:
        yield Edges(nginx_bin, tmp_path_factory.mktemp("nginx"), stack)


@pytest.fixture(scope="module")
def edges(nginx_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    with ExitStack() as stack:
        yield Edges(nginx_bin, tmp_path_factory.mktemp("nginx"), stack)


@pytest.fixture(scope="session")
def good(session_edges: Edges, pki: Pki, receiver: str, status_file: Path) -> Edge:
    """The correct edge in front of the receiver."""
    return session_edges.start(
        "good", lambda https, http: configs.good_edge(https, http, pki.valid, receiver,
                                                      status_file),
        origin=receiver,
    )
