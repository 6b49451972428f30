"""One broken control, one failing check: the same deployment with exactly one thing wrong.

Each case breaks one control of the deployment that passes in full (test_preflight_full)
and runs the whole preflight again. The check that guards that control must fail; every
other check must come out as it did on the correct deployment, except the ones that depend
on the broken thing, which must say so (skip naming the failing check, or error naming the
cause) instead of piling on more failures.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    ENV,
    Deployment,
    by_id,
    isolate,
    run_in_process,
    statuses,
)

pytestmark = [pytest.mark.slow, pytest.mark.nginx, pytest.mark.chrony]

SMOKE_STEPS = frozenset({
    "smoke.accepted", "smoke.burst", "smoke.conflict", "smoke.duplicate", "smoke.failed",
    "smoke.future", "smoke.readback", "smoke.rejected", "smoke.replay",
})


def preflight(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, dict[str, Any]]:
    code, out, err = run_in_process(capsys, "preflight", "--config", str(config),
                                    "--env", ENV, "--format", "json")
    assert "Traceback" not in err
    return code, json.loads(out)


@pytest.fixture(scope="module")
def baseline(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The statuses on the correct deployment (test_preflight_full proves they all pass)."""
    from neruba_harden.cli import main

    config = deployment.write_config(tmp_path_factory.mktemp("baseline") / "good.toml")
    output = config.with_suffix(".json")
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as exited:
        isolate(patch, config.parent)
        main(["preflight", "--config", str(config), "--env", ENV, "--format", "json",
              "--output", str(output)])
    report = json.loads(output.read_text(encoding="utf-8"))
    assert exited.value.code == 0, report
    return statuses(report)


# -- the breaks -------------------------------------------------------------------------------


def behind_by_one_revision(deployment: Deployment, tmp_path: Path) -> dict[str, Any]:
    """A copy of the receiver's database, downgraded one revision with Alembic.

    A copy, so the receiver keeps serving at head: only migrations.db changes.
    """
    from alembic import command

    from neruba_harden.reference.schema import alembic_config

    copy = tmp_path / "behind.db"
    source = sqlite3.connect(deployment.receiver.db_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    with target:
        source.backup(target)
    source.close()
    target.close()
    url = f"sqlite:///{copy}"
    command.downgrade(alembic_config(url), "-1")
    return {"migrations.db": url}


@dataclass(frozen=True)
class Case:
    """One break: what to change, which check must fail, which may follow it, and how."""

    fails: frozenset[str]
    change: Callable[[Deployment, Path], dict[str, Any]]
    # id -> (status, text its summary or evidence must contain): the honest consequences
    follows: dict[str, tuple[str, str]] = field(default_factory=dict)
    # ids replaced by one finding for the whole check (the smoke sequence that cannot run)
    replaced: frozenset[str] = frozenset()
    sealed_vault: bool = False


CASES: dict[str, Case] = {
    # The receiver processes redeliveries anew: conflict and burst cannot be judged then.
    "receiver-no-dedupe": Case(
        frozenset({"smoke.duplicate"}),
        lambda d, _: d.faulty_edge("no-dedupe").keys(),
        follows={"smoke.conflict": ("skip", "see smoke.duplicate"),
                 "smoke.burst": ("skip", "see smoke.duplicate")},
    ),
    # Deduplication by check-then-insert: sequential redeliveries pass, a burst does not.
    "receiver-racy-dedupe": Case(
        frozenset({"smoke.burst"}),
        lambda d, _: d.faulty_edge("racy-dedupe").keys(),
    ),
    "pending-migration": Case(
        frozenset({"migrations.current"}),
        behind_by_one_revision,
        follows={"migrations.drift": ("skip", "see migrations.current")},
    ),
    "clock-90s-behind": Case(
        frozenset({"clock.drift"}),
        lambda d, _: {"clock.servers": [d.skewed_ntp(90.0).address]},
    ),
    # The webhook secret lives in the sealed Vault too: the smoke sequence and the signed
    # proxy-chain probe cannot get it, and say why (error: could not verify, not a fail).
    "vault-sealed": Case(
        frozenset({"secrets.vault"}),
        lambda d, _: {},
        follows={"secrets.refs": ("skip", "see secrets.vault"),
                 "secrets.rotation": ("skip", "see secrets.vault"),
                 "smoke.sequence": ("error", "is sealed"),
                 "ingress.signature-chain": ("error", "is sealed")},
        replaced=SMOKE_STEPS,
        sealed_vault=True,
    ),
    "docs-exposed": Case(
        frozenset({"exposure.docs"}),
        lambda d, _: d.docs_open_edge().keys(),
    ),
}


@pytest.fixture
def sealed(deployment: Deployment) -> Iterator[Callable[[], None]]:
    state = deployment.vault.state

    def seal() -> None:
        state.sealed = True

    try:
        yield seal
    finally:
        state.sealed = False


@pytest.mark.parametrize("name", list(CASES))
def test_one_broken_control_fails_exactly_its_check(
    name: str, deployment: Deployment, baseline: dict[str, str], sealed: Callable[[], None],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES[name]
    config = deployment.write_config(tmp_path / "neruba-harden.toml",
                                     **case.change(deployment, tmp_path))
    if case.sealed_vault:
        sealed()
    code, report = preflight(capsys, config)
    found = by_id(report)
    now = statuses(report)

    assert code == report["exit_code"] == 1
    for check_id in case.fails:
        assert now[check_id] == "fail", found[check_id]
    assert {i for i, s in now.items() if s == "fail"} == case.fails, now
    for check_id, (status, text) in case.follows.items():
        finding = found[check_id]
        assert finding["status"] == status, finding
        assert text in finding["summary"] + json.dumps(finding["evidence"]), finding
    unchanged = set(baseline) - case.fails - set(case.follows) - case.replaced
    assert {i: now.get(i) for i in unchanged} == {i: baseline[i] for i in unchanged}
    assert set(now) == (set(baseline) - case.replaced) | set(case.follows)
