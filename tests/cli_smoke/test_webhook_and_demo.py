"""`webhook sign`, `webhook send` and `demo`: support tools and a first look for new users."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from neruba_harden.cli import cli
from neruba_harden.webhooks import sign_headers, verify
from tests.cli_smoke.conftest import SECRET_REF, RunCli
from tests.conftest import CANARY_WEBHOOK_SECRET, assert_no_canary
from tests.smoke.receivers import RunningReceiver

EVENT = b'{\n  "id": "evt_support_1",\n  "type": "payment_intent.succeeded"\n}\n'


def write_event(tmp_path: Path, body: bytes = EVENT) -> Path:
    path = tmp_path / "event.json"
    path.write_bytes(body)
    return path


def headers_of(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.strip().splitlines())


def test_sign_prints_headers_for_the_exact_bytes(run_cli: RunCli, tmp_path: Path) -> None:
    code, out, err = run_cli("webhook", "sign", "--secret", SECRET_REF,
                             "--timestamp", "1700000000", str(write_event(tmp_path)))
    assert code == 0
    assert headers_of(out) == sign_headers("stripe", EVENT, CANARY_WEBHOOK_SECRET,
                                           timestamp=1_700_000_000)
    assert_no_canary(out, err)


def test_sign_reads_stdin_and_signs_the_event_id_for_standard_webhooks() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    result = CliRunner().invoke(
        cli, ["webhook", "sign", "--secret", "env:NERUBA_STANDARD_SECRET", "--scheme", "standard",
              "-"], input=EVENT, env={"NERUBA_STANDARD_SECRET": secret})
    assert result.exit_code == 0, result.output
    headers = headers_of(result.output)
    assert headers["webhook-id"] == "evt_support_1"
    verify("standard", EVENT, headers, secret, now=int(headers["webhook-timestamp"]))


def test_sign_without_an_event_id_for_standard_webhooks_is_a_usage_error(
    run_cli: RunCli, tmp_path: Path
) -> None:
    code, out, err = run_cli("webhook", "sign", "--secret", SECRET_REF, "--scheme", "standard",
                             str(write_event(tmp_path, b"not json")))
    assert code == 2 and out == ""
    assert "--event-id" in err and "Traceback" not in err


def test_send_delivers_one_event_and_prints_what_came_back(
    run_cli: RunCli, good_receiver: RunningReceiver, tmp_path: Path
) -> None:
    body = EVENT.replace(b"evt_support_1", f"evt_support_{time.time_ns()}".encode())
    event = write_event(tmp_path, body)
    code, out, err = run_cli("webhook", "send", "--url", good_receiver.url,
                             "--secret", SECRET_REF, str(event))
    assert code == 0, out + err
    assert "outcome:    accepted" in out and "request id: " in out
    code, out, err = run_cli("webhook", "send", "--url", good_receiver.url,
                             "--secret", SECRET_REF, "--format", "json", str(event))
    sent = json.loads(out)
    assert code == 0 and sent["outcome"] == "duplicate" and sent["status"] == 200
    assert_no_canary(out, err)


def test_send_with_a_stale_timestamp_exits_1_with_the_replay(
    run_cli: RunCli, good_receiver: RunningReceiver, tmp_path: Path
) -> None:
    code, out, err = run_cli("webhook", "send", "--url", good_receiver.url,
                             "--secret", SECRET_REF, "--timestamp", "1000",
                             str(write_event(tmp_path)))
    assert code == 1
    assert "status:     400" in out and "outcome:    replay" in out
    assert_no_canary(out, err)


def test_send_to_nowhere_exits_3_with_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    from tests.smoke.receivers import closed_port_url

    code, out, err = run_cli("webhook", "send", "--url", closed_port_url(),
                             "--secret", SECRET_REF, str(write_event(tmp_path)))
    assert code == 3
    assert "error:      connection refused by" in out and "Traceback" not in out + err


def test_the_demo_shows_a_passing_and_a_failing_receiver(run_cli: RunCli) -> None:
    code, out, err = run_cli("demo", "--burst", "5")
    assert code == 0, out
    assert "== 1/2: the reference receiver, every control on ==" in out
    assert "9 checks: 9 pass (exit 0)" in out
    assert "== 2/2: the same receiver with one control broken: dedupe-before-processing" in out
    assert "FAIL   smoke.failed" in out
    assert "demo: as expected" in out
    assert "demo: starting the reference receiver" in err
