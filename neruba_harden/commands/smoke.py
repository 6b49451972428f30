"""`neruba-harden smoke`: run the post-deploy smoke sequence against one receiver.

The target is resolved before anything is sent: a missing URL or secret, an unresolvable
secret reference, or plain http:// to a non-loopback host without ``--allow-http`` is a
usage error (one line, exit 2). Faults met while sending are findings: ``error`` (exit 3)
when the receiver could not be reached, ``fail`` (exit 1) when it broke the contract.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from neruba_harden import redact
from neruba_harden.commands.common import (
    build_report,
    config_options,
    load_for_command,
    progress,
    report_options,
)

SCHEMES = ("stripe", "standard")


def smoke_target_options(func: Any) -> Any:
    """The options that describe a receiver (shared with `demo` and `webhook send`)."""
    func = click.option("--allow-http", is_flag=True, default=None,
                        help="Allow signed requests over plain http:// to a non-loopback host.")(func)
    func = click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False),
                        help="CA bundle to verify the receiver's TLS certificate against.")(func)
    func = click.option("--scheme", type=click.Choice(SCHEMES),
                        help="Signing scheme (key 'scheme', default stripe).")(func)
    func = click.option("--webhook-path",
                        help="Path of the webhook route (key 'webhook_path', default /webhooks).")(func)
    func = click.option("--secret", "secret_ref", metavar="REF",
                        help="Webhook secret reference: env:NAME, file:PATH or vault:MOUNT/PATH#KEY.")(func)
    func = click.option("--url", help="Base URL of the receiver (key 'url').")(func)
    return func


@click.command("smoke")
@smoke_target_options
@click.option("--burst", type=click.IntRange(1, 500),
              help="Concurrent deliveries of one event in the burst step (key 'burst', default 20).")
@click.option("--readback-path", metavar="PATH",
              help="Admin read-back path with {event_id} (key 'readback_path').")
@click.option("--admin-token", "admin_token_ref", metavar="REF",
              help="Secret reference of the read-back's bearer token (key 'admin_token').")
@config_options
@report_options
def smoke(
    url: str | None,
    secret_ref: str | None,
    webhook_path: str | None,
    scheme: str | None,
    ca_bundle: str | None,
    allow_http: bool | None,
    burst: int | None,
    readback_path: str | None,
    admin_token_ref: str | None,
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Run the post-deploy smoke sequence against a webhook receiver.

    Sends test-mode events (ids evt_smoke_<run id>_<step>) and judges every answer against
    the receiver contract: accepted, duplicate, conflict, replay, future, rejected, failed
    and its retry, a concurrent burst, and the read-back when configured. --timeout bounds
    each request (key 'timeout', default 10 seconds).
    """
    from neruba_harden.registry import CheckContext, run_checks, select_checks
    from neruba_harden.report import emit
    from neruba_harden.smoke.checks import TARGET_CACHE_KEY
    from neruba_harden.smoke.target import SmokeTarget

    overrides = {
        "url": url,
        "webhook_secret": secret_ref,
        "webhook_path": webhook_path,
        "scheme": scheme,
        "ca_bundle": ca_bundle,
        "allow_http": True if allow_http else None,
        "burst": burst,
        "readback_path": readback_path,
        "admin_token": admin_token_ref,
        "timeout": timeout,
    }
    settings = load_for_command(config_file, env_name, overrides, areas=["smoke"])
    target = SmokeTarget.from_settings(settings)
    click.echo(redact.scrub(f"smoke: {target.webhook_url} ({target.scheme})"), err=True)
    ctx = CheckContext(settings=settings, cache={TARGET_CACHE_KEY: target})
    findings = run_checks(select_checks(["smoke"]), ctx, on_finding=progress)
    meta: dict[str, Any] = dict(target.describe())
    result = ctx.cache.get("smoke.result")
    if result is not None:
        meta["run_id"] = result.run_id
        meta["duration_s"] = round(result.duration_s, 3)
    report = build_report(findings, settings, title="neruba-harden smoke", strict=strict,
                          meta=meta)
    emit(report, fmt, output)
    if output:
        click.echo(f"report written to {output}", err=True)
    sys.stdout.flush()
    return report.exit_code


# The shared --timeout bounds a check; for the sequence it bounds each request.
for _param in smoke.params:
    if _param.name == "timeout" and isinstance(_param, click.Option):
        _param.help = "Seconds to wait for each request (key 'timeout', default 10)."
