"""A realistic deployment to run `neruba-harden preflight` over, end to end.

One module-scoped `Deployment` stands up every component a release engineer's preflight
talks to, all real except Vault:

- the reference receiver (`neruba_harden.reference`) under uvicorn, on SQLite in tmp, with
  docs open in the app and an admin token, so that whether docs are reachable is the
  edge's decision (as in tests/edge);
- a real nginx in front of it, TLS from a trustme CA, configured the correct way
  (tests/edge/configs.good_edge: HSTS, http -> https, docs denied, headers overwritten);
- a real chronyd serving NTP on a loopback UDP port (tests/support/chrony.py);
- the Vault API stand-in (tests/support/vault_api_standin.py). It is NOT Vault: no Vault or
  OpenBao server can be installed on these machines, so a small HTTP server answers the
  documented Vault API subset the checks call, and the checks reach it through the real
  hvac client. The webhook secret and admin token live there (canary values);
- a clean git repository for secrets.env-files.

`Deployment.config()` gives the `production` environment that configures every area;
`write_config(path, **changes)` writes it as neruba-harden.toml with dotted keys changed
(a value of None removes the key). Broken variants (a receiver fault, an nginx that passes
/docs, a skewed chronyd) start on demand and stop with the module.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CANARY_TOKEN,
    CANARY_WEBHOOK_SECRET,
    require_binary,
    require_service,
)
from tests.edge import configs
from tests.support.chrony import ChronyServer, start_chronyd
from tests.support.nginx import free_port, running_nginx
from tests.support.tls import CertFiles, ca_bundle, issue, make_ca
from tests.support.vault_api_standin import VaultApiStandin

ENV = "production"
TOKEN_ENV = "NERUBA_TEST_VAULT_TOKEN"
WEBHOOK_REF = "vault:kv/neruba/webhooks#stripe_endpoint_secret"
ADMIN_REF = "vault:kv/neruba/admin#token"
DB_REF = "vault:kv/neruba/db#url"
ADMIN_TOKEN = "adm_" + "Q7x2" * 6
READBACK_PATH = "/webhooks/events/{event_id}"
TARGET_METADATA = "neruba_harden.reference.store:metadata"
# The application's Vault policy: read (and list) its own paths, nothing else.
APP_POLICY_CAPS = {"kv/data/neruba/*": ["read"], "kv/metadata/neruba/*": ["read", "list"]}

# Every id a fully configured preflight reports. `smoke.sequence` is left out on purpose:
# it is only emitted when the whole sequence cannot run (skip or error); a sequence that
# ran reports one finding per step instead.
EXPECTED_IDS = frozenset({
    "clock.drift",
    "exposure.debug", "exposure.docs",
    "ingress.signature-chain", "proxy.forwarded-headers", "proxy.host-header",
    "migrations.current", "migrations.drift", "migrations.single-head",
    "secrets.db-privileges", "secrets.env-files", "secrets.refs", "secrets.rotation",
    "secrets.sources", "secrets.vault",
    "smoke.accepted", "smoke.burst", "smoke.conflict", "smoke.duplicate", "smoke.failed",
    "smoke.future", "smoke.readback", "smoke.rejected", "smoke.replay",
    "transport.hsts", "transport.https-redirect", "transport.tls",
})
# The one function behind several ids: its findings share one duration, counted once.
CHECK_GROUPS = {"smoke": "smoke", "migrations": "migrations"}

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


# -- TOML ----------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """A nested dict as TOML: scalars first, then one [table] per nested dict."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, Mapping)]
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in data.items():
        if isinstance(value, Mapping):
            name = f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key)
            text += f"\n[{name}]\n" + to_toml(value, name)
    return text


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


# -- components ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """nginx in front of a receiver: the public https URL, the plain-HTTP one, the origin."""

    url: str
    http_url: str
    origin: str

    def keys(self) -> dict[str, str]:
        return {"url": self.url, "http_url": self.http_url, "origin_url": self.origin}


@dataclass(frozen=True)
class Receiver:
    url: str
    db_url: str


@contextmanager
def reference_receiver(db_url: str, *, faults: frozenset[str] = frozenset(),
                       docs: str = "open") -> Iterator[Receiver]:
    from neruba_harden.reference.server import running_receiver
    from neruba_harden.reference.settings import ReceiverSettings

    settings = ReceiverSettings(
        db_url=db_url, secrets=[CANARY_WEBHOOK_SECRET], admin_token=ADMIN_TOKEN,
        readback_path=READBACK_PATH, faults=faults, docs=docs,
    )
    with running_receiver(settings) as url:
        yield Receiver(url, db_url)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=neruba-tests", "-c", "user.email=tests@example.invalid",
         "-c", "commit.gpgsign=false", "-C", str(repo), *args],
        check=True, capture_output=True, timeout=30,
    )


def clean_repo(path: Path) -> Path:
    """A committed repository with code and an env *template* (placeholders only)."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    (path / "app.py").write_text("print('receiver')\n", encoding="utf-8")
    (path / ".env.example").write_text("WEBHOOK_SECRET=\nVAULT_ADDR=\n", encoding="utf-8")
    git(path, "add", "--all")
    git(path, "commit", "-q", "-m", "initial")
    return path


def standin_vault() -> VaultApiStandin:
    """The stand-in with the application's token and its secrets, recently rotated."""
    standin = VaultApiStandin()
    state = standin.state
    state.add_token(CANARY_TOKEN, policies=["default", "neruba-app"], ttl=7200, renewable=True,
                    capabilities=dict(APP_POLICY_CAPS), display_name="token-neruba-app")
    state.put_secret("kv", "neruba/webhooks", {"stripe_endpoint_secret": CANARY_WEBHOOK_SECRET},
                     age_days=10)
    state.put_secret("kv", "neruba/admin", {"token": ADMIN_TOKEN}, age_days=3)
    return standin


@dataclass(frozen=True)
class Pki:
    """The test CA's bundle (what clients trust) and the edge's certificate."""

    bundle: Path
    cert: CertFiles


def start_edge(nginx_bin: str, prefix: Path, pki: Pki, upstream: str, status_file: Path,
               stack: ExitStack, *, deny_docs: bool = True) -> Edge:
    """nginx in front of ``upstream``, configured as tests/edge's correct edge (optionally
    passing /docs through); it stops with ``stack``."""
    https, http = free_port(), free_port()
    servers = configs.edge_with(https, http, pki.cert, upstream, status_file,
                                deny_docs=deny_docs)
    stack.enter_context(running_nginx(nginx_bin, prefix, servers, ports=[https, http]))
    return Edge(f"https://127.0.0.1:{https}/", f"http://127.0.0.1:{http}/", upstream)


@dataclass
class Deployment:
    """Every running component, and the production configuration that points at them."""

    root: Path
    nginx_bin: str
    chronyd_bin: str
    pki: Pki
    status_file: Path
    receiver: Receiver
    edge: Edge
    vault: VaultApiStandin
    ntp: ChronyServer
    repo: Path
    stack: ExitStack
    _started: dict[str, Any] = field(default_factory=dict)

    # -- configuration --------------------------------------------------------------------
    def config(self, **changes: Any) -> dict[str, Any]:
        """The production environment's table; ``changes`` are dotted keys (None removes)."""
        from neruba_harden.reference.schema import MIGRATIONS_DIR

        env: dict[str, Any] = {
            **self.edge.keys(),
            "ca_bundle": str(self.pki.bundle),
            "webhook_secret": WEBHOOK_REF,
            "admin_token": ADMIN_REF,
            "readback_path": READBACK_PATH,
            "burst": 8,
            "migrations": {
                "script_location": str(MIGRATIONS_DIR),
                "db": self.receiver.db_url,
                "target_metadata": TARGET_METADATA,
            },
            "clock": {"servers": [self.ntp.address]},
            "vault": {"addr": self.vault.url, "token": f"env:{TOKEN_ENV}"},
            "secrets": {
                "refs": [WEBHOOK_REF, ADMIN_REF],
                "repo": str(self.repo),
                # The receiver's own database: on SQLite there are no roles to check
                # (secrets.db-privileges skips, saying so); the PostgreSQL test checks a role.
                "db": self.receiver.db_url,
            },
        }
        for key, value in changes.items():
            set_dotted(env, key, value)
        return {"timeout": 20, "environments": {ENV: env}}

    def write_config(self, path: Path, **changes: Any) -> Path:
        path.write_text(to_toml(self.config(**changes)), encoding="utf-8")
        return path

    # -- broken variants, started once per module on demand -------------------------------
    def start_edge(self, name: str, upstream: str, *, deny_docs: bool = True,
                   stack: ExitStack | None = None) -> Edge:
        """Another edge; it stops with ``stack`` (default: with the module)."""
        return start_edge(self.nginx_bin, self.root / "nginx" / name, self.pki, upstream,
                          self.status_file, stack or self.stack, deny_docs=deny_docs)

    def faulty_edge(self, fault: str) -> Edge:
        """A receiver with one fault switch on, behind the correct edge."""
        key = f"fault:{fault}"
        if key not in self._started:
            db = f"sqlite:///{self.root / f'receiver-{fault}.db'}"
            receiver = self.stack.enter_context(
                reference_receiver(db, faults=frozenset({fault})))
            self._started[key] = self.start_edge(f"fault-{fault}", receiver.url)
        edge: Edge = self._started[key]
        return edge

    def docs_open_edge(self) -> Edge:
        """The same receiver behind an nginx that passes /docs through."""
        if "docs-open" not in self._started:
            self._started["docs-open"] = self.start_edge("docs-open", self.receiver.url,
                                                         deny_docs=False)
        edge: Edge = self._started["docs-open"]
        return edge

    def skewed_ntp(self, offset_s: float) -> ChronyServer:
        key = f"ntp:{offset_s:+g}"
        if key not in self._started:
            faketime = require_binary("faketime")
            server = start_chronyd(self.root / f"chrony{offset_s:+g}", chronyd=self.chronyd_bin,
                                   offset_s=offset_s, faketime=faketime)
            self.stack.callback(server.stop)
            self._started[key] = server
        ntp: ChronyServer = self._started[key]
        return ntp


def start_deployment(root: Path, stack: ExitStack) -> Deployment:
    nginx_bin = require_binary("nginx")
    chronyd_bin = require_binary("chronyd")
    ca = make_ca()
    pki = Pki(ca_bundle(ca, root), issue(ca, root / "pki", "edge", "localhost", "127.0.0.1"))
    status_file = root / "admin-status.json"
    status_file.write_text('{"status": "ok", "operator": true}\n', encoding="utf-8")

    vault = stack.enter_context(standin_vault())
    ntp = start_chronyd(root / "chrony", chronyd=chronyd_bin)
    stack.callback(ntp.stop)
    receiver = stack.enter_context(
        reference_receiver(f"sqlite:///{root / 'receiver.db'}", docs="open"))
    edge = start_edge(nginx_bin, root / "nginx" / "good", pki, receiver.url, status_file, stack)
    return Deployment(
        root=root, nginx_bin=nginx_bin, chronyd_bin=chronyd_bin, pki=pki,
        status_file=status_file, receiver=receiver, edge=edge, vault=vault, ntp=ntp,
        repo=clean_repo(root / "repo"), stack=stack,
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with ExitStack() as stack:
        yield start_deployment(tmp_path_factory.mktemp("deployment"), stack)


# -- running the CLI -------------------------------------------------------------------------


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without Vault or neruba settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "NERUBA_HARDEN_"))}
    env.pop(TOKEN_ENV, None)
    env.update(extra)
    return env


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No Vault or neruba settings leak in from the machine; the app's Vault token is set."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "NERUBA_HARDEN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv(TOKEN_ENV, CANARY_TOKEN)
    monkeypatch.setenv("HOME", str(home))  # no ~/.vault-token
    monkeypatch.chdir(home)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


def executable() -> str:
    """The venv's `neruba-harden` console script (what a pipeline runs)."""
    candidates = (Path(sys.executable).parent / "neruba-harden", VENV_BIN / "neruba-harden")
    found = next((str(p) for p in candidates if p.exists()), None) or shutil.which(
        "neruba-harden")
    require_service("neruba-harden console script", found is not None,
                    "pip install -e . in the venv")
    assert found is not None
    return found


@dataclass(frozen=True)
class Ran:
    """What one subprocess left behind."""

    returncode: int
    stdout: str
    stderr: str


def run_cli_many(runs: Mapping[str, list[str]], *, cwd: Path, env: Mapping[str, str],
                 parallel: int = 8, timeout: float = 90) -> dict[str, Ran]:
    """Several `neruba-harden` runs, up to ``parallel`` at a time; results by name.

    Output goes to files, not pipes: a run whose report outgrows a pipe buffer would
    otherwise stall until its turn to be read.
    """
    logs = cwd / "cli-logs"
    logs.mkdir(exist_ok=True)
    pending = list(runs.items())
    running: list[tuple[str, subprocess.Popen[bytes], Path, Path]] = []
    results: dict[str, Ran] = {}
    with ExitStack() as stack:
        while pending or running:
            while pending and len(running) < parallel:
                name, args = pending.pop(0)
                out, err = logs / f"{name}.out", logs / f"{name}.err"
                with open(out, "wb") as stdout, open(err, "wb") as stderr:
                    process = subprocess.Popen(
                        [executable(), *args], cwd=cwd, env=dict(env),
                        stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                    )
                stack.callback(_reap, process)
                running.append((name, process, out, err))
            name, process, out, err = running.pop(0)
            code = process.wait(timeout)
            results[name] = Ran(code, out.read_text(encoding="utf-8"),
                                err.read_text(encoding="utf-8"))
    return results


def _reap(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(5)


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`neruba-harden ARGS` through the console entry point, in this process."""
    from neruba_harden.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def statuses(report: Mapping[str, Any]) -> dict[str, str]:
    """check id -> status of a JSON report; each id at most once."""
    found: dict[str, str] = {}
    for finding in report["findings"]:
        assert finding["check_id"] not in found, f"two findings for {finding['check_id']}"
        found[finding["check_id"]] = finding["status"]
    return found


def by_id(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check_id"]: f for f in report["findings"]}


def check_durations(report: Mapping[str, Any]) -> dict[str, float]:
    """Duration per check function: a function that emits several ids counts once."""
    durations: dict[str, float] = {}
    for finding in report["findings"]:
        area = finding["check_id"].split(".", 1)[0]
        key = CHECK_GROUPS.get(area, finding["check_id"])
        durations[key] = max(durations.get(key, 0.0), float(finding["duration_s"]))
    return durations


def free_tcp_port() -> int:
    """A loopback TCP port with no listener (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_or_skip() -> None:
    from tests.support.postgres import server_available

    available, reason = server_available()
    require_service("PostgreSQL", available, reason)

