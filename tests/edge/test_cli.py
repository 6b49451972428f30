"""The exposure, transport and proxy commands end to end: flags, config keys, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_no_canary
from tests.edge import configs
from tests.edge.apps import closed_port
from tests.edge.conftest import Edge, Edges, Pki

pytestmark = pytest.mark.nginx


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERUBA_HARDEN_")}
    return subprocess.run(
        [sys.executable, "-m", "neruba_harden", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def docs_open(edges: Edges, pki: Pki, receiver: str, status_file: Path) -> Edge:
    return edges.start("cli-docs-open", lambda https, http: configs.edge_with(
        https, http, pki.valid, receiver, status_file, deny_docs=False))


def test_exposure_in_production_fails_with_json(docs_open: Edge, pki: Pki, tmp_path: Path) -> None:
    result = cli("exposure", "--url", docs_open.url, "--ca-bundle", str(pki.bundle),
                 "--env", "production", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    statuses = {f["check_id"]: f["status"] for f in report["findings"]}
    assert statuses == {"exposure.docs": "fail", "exposure.debug": "pass"}


def test_per_environment_policy_from_a_config_file(docs_open: Edge, pki: Pki,
                                                   tmp_path: Path) -> None:
    (tmp_path / "neruba-harden.toml").write_text(
        f'url = "{docs_open.url}"\nca_bundle = "{pki.bundle}"\n'
        '[environments.development]\n'
        '[environments.staging.exposure]\ndocs_policy = "deny"\n'
    )
    assert cli("exposure", "--env", "development", cwd=tmp_path).returncode == 0
    staging = cli("exposure", "--env", "staging", cwd=tmp_path)
    assert staging.returncode == 1
    assert "exposure.docs" in staging.stdout and "policy here is deny" in staging.stdout


def test_transport_on_the_correct_edge_exits_0(good: Edge, pki: Pki, tmp_path: Path) -> None:
    result = cli("transport", "--url", good.url, "--http-url", good.http_url,
                 "--ca-bundle", str(pki.bundle), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "transport.hsts" in result.stdout


def test_proxy_with_secret_and_origin_exits_0_and_never_prints_the_secret(
    good: Edge, pki: Pki, secret_ref: str, tmp_path: Path
) -> None:
    result = cli("proxy", "--url", good.url, "--http-url", good.http_url,
                 "--ca-bundle", str(pki.bundle), "--secret", secret_ref,
                 "--origin-url", good.origin, "--admin-path", "/admin/status",
                 "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {f["check_id"]: f["status"] for f in json.loads(result.stdout)["findings"]}
    assert statuses == {"proxy.host-header": "pass", "proxy.forwarded-headers": "pass",
                        "ingress.signature-chain": "pass"}
    assert_no_canary(result.stdout, result.stderr)


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    port = closed_port()
    result = cli("transport", "--url", f"https://127.0.0.1:{port}/", "--http-url",
                 f"http://127.0.0.1:{port}/", cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "connection refused by 127.0.0.1" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args", [
    ("exposure",),
    ("exposure", "--url", "ftp://example.test/"),
    ("proxy", "--url", "https://example.test/", "--secret", "hunter2"),
])
def test_usage_errors_exit_2_with_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
