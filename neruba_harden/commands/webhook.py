"""`neruba-harden webhook sign|send`: support tools for one event.

``sign`` prints the signature headers for a file's exact bytes, one ``Name: value`` line
each, to paste into curl or a test. ``send`` signs and delivers one event and prints what
came back (status, outcome, request id), then exits 0 for a 2xx answer, 1 for any other
answer and 3 when there was no answer at all.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

import click

from neruba_harden import redact
from neruba_harden.commands.common import load_for_command
from neruba_harden.commands.smoke import SCHEMES, smoke_target_options
from neruba_harden.errors import ConfigError
from neruba_harden.findings import EXIT_FAILED, EXIT_OK, EXIT_UNVERIFIED


@click.group("webhook")
def webhook() -> None:
    """Sign or send one webhook event (support tools)."""


def _event_id(body: bytes, given: str | None, scheme: str) -> str | None:
    """``--event-id``, else the body's ``id``; the standard scheme cannot sign without one."""
    if given:
        return given
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    found = parsed.get("id") if isinstance(parsed, dict) else None
    if isinstance(found, str) and found:
        return found
    if scheme == "standard":
        raise ConfigError("the standard scheme signs the event id: pass --event-id "
                          "(or send a JSON body with an 'id')")
    return None


def _config_options(func: Any) -> Any:
    func = click.option("--env", "env_name", help="Named environment from the configuration.")(func)
    func = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                        help="Configuration file (default: found upwards).")(func)
    return func


@webhook.command("sign")
@click.option("--secret", "secret_ref", metavar="REF",
              help="Webhook secret reference (key 'webhook_secret').")
@click.option("--scheme", type=click.Choice(SCHEMES), help="Signing scheme (default stripe).")
@click.option("--timestamp", type=click.IntRange(min=0), help="Unix time to sign at (default now).")
@click.option("--event-id", help="Event id (the standard scheme signs it; default: the body's id).")
@_config_options
@click.argument("file", type=click.File("rb"))
def sign(
    secret_ref: str | None,
    scheme: str | None,
    timestamp: int | None,
    event_id: str | None,
    config_file: str | None,
    env_name: str | None,
    file: IO[bytes],
) -> int:
    """Print the signature headers for FILE's exact bytes (FILE may be - for stdin)."""
    from neruba_harden.secretrefs import resolve_secret
    from neruba_harden.webhooks import sign_headers

    settings = load_for_command(config_file, env_name,
                                {"webhook_secret": secret_ref, "scheme": scheme})
    chosen_scheme = settings.get_str("scheme", "stripe") or "stripe"
    if chosen_scheme not in SCHEMES:
        raise ConfigError(f"key 'scheme': {chosen_scheme!r} is not one of {', '.join(SCHEMES)}")
    ref = settings.get_str("webhook_secret")
    if not ref:
        raise ConfigError("pass --secret REF (or set key 'webhook_secret')")
    from neruba_harden.secretrefs import SecretRef

    secret = resolve_secret(SecretRef.parse(ref, where="--secret (key 'webhook_secret')"),
                            settings=settings)
    body = file.read()
    try:
        headers = sign_headers(chosen_scheme, body, secret, timestamp=timestamp,
                               event_id=_event_id(body, event_id, chosen_scheme))
    except ValueError as exc:  # a secret the scheme cannot use: never echo it
        raise ConfigError(f"cannot sign: {exc}") from None
    for name, value in headers.items():
        click.echo(f"{name}: {value}")
    return EXIT_OK


@webhook.command("send")
@smoke_target_options
@click.option("--timestamp", type=click.IntRange(min=0), help="Unix time to sign at (default now).")
@click.option("--event-id", help="Event id to report and sign (default: the body's id).")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=120),
              help="Seconds to wait for the answer (key 'timeout', default 10).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@_config_options
@click.argument("file", type=click.File("rb"))
def send(
    url: str | None,
    secret_ref: str | None,
    webhook_path: str | None,
    scheme: str | None,
    ca_bundle: str | None,
    allow_http: bool | None,
    timestamp: int | None,
    event_id: str | None,
    timeout: float | None,
    fmt: str,
    config_file: str | None,
    env_name: str | None,
    file: IO[bytes],
) -> int:
    """Sign FILE's exact bytes, deliver them to the receiver and print what came back."""
    from neruba_harden.smoke.client import BlockingWebhookClient, signed_headers
    from neruba_harden.smoke.target import SmokeTarget

    settings = load_for_command(config_file, env_name, {
        "url": url, "webhook_secret": secret_ref, "webhook_path": webhook_path,
        "scheme": scheme, "ca_bundle": ca_bundle, "allow_http": True if allow_http else None,
        "timeout": timeout,
    })
    target = SmokeTarget.from_settings(settings)
    body = file.read()
    chosen_id = _event_id(body, event_id, target.scheme)
    stamp = int(time.time()) if timestamp is None else timestamp
    try:
        headers = signed_headers(target, body, event_id=chosen_id or "", timestamp=stamp)
    except ValueError as exc:
        raise ConfigError(f"cannot sign: {exc}") from None
    with BlockingWebhookClient(target) as client:
        seen = client.post("send", body, headers, event_id=chosen_id, timestamp=stamp)
    if fmt == "json":
        click.echo(json.dumps(seen.to_dict(), indent=2))
    else:
        rows = [
            ("POST", seen.url),
            ("event", seen.event_id or "-"),
            ("timestamp", str(stamp)),
        ]
        if seen.error is not None:
            rows.append(("error", seen.error))
        else:
            rows += [
                ("status", str(seen.status)),
                ("outcome", seen.outcome_text()),
                ("request id", seen.request_id or "-"),
                ("elapsed", f"{seen.elapsed_s * 1000:.0f} ms"),
            ]
            if seen.location:
                rows.append(("location", seen.location))
            rows.append(("body", seen.body or "-"))
        for name, value in rows:
            click.echo(redact.scrub(f"{name + ':':<12}{value}"))
    if seen.error is not None:
        return EXIT_UNVERIFIED
    return EXIT_OK if seen.status is not None and 200 <= seen.status < 300 else EXIT_FAILED
