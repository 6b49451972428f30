"""Ingress check: a signed event survives the proxy/CDN chain intact (area ``proxy``).

Check id:

- ``ingress.signature-chain`` (area ``proxy``: it proves the proxy keeps signatures
  intact): a correctly signed test-mode event, and a realistic ~40 KB one, are sent through
  the public URL and, when ``origin_url`` is set, straight to the origin; the finding names
  the link that breaks delivery, with a hint per known cause: signature header stripped,
  body re-encoded, body size limit (413), redirect on the webhook path.

Configuration (``[tool.neruba-harden]``):

- ``url``, ``ca_bundle``, ``webhook_path``: see :mod:`neruba_harden.checks.probes`.
- ``webhook_secret``: secret reference (``env:``/``file:``/``vault:``) of the signing
  secret; without it ``ingress.signature-chain`` is skipped.
- ``scheme``: ``stripe`` (default) or ``standard``.
- ``origin_url``: the receiver's address behind the proxy, to compare against.
- ``allow_http``: allow signed events over plain HTTP to a non-loopback host (default
  false: the check is skipped with the reason, as the smoke sequence refuses them).
- ``proxy.event_type``: the test-mode event type sent (default ``neruba.smoke.ping``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from neruba_harden.checks import probes
from neruba_harden.checks.probes import Probe, ProbeError, Target
from neruba_harden.errors import ConfigError
from neruba_harden.findings import Finding, errored, failed, passed, skipped, warned
from neruba_harden.registry import CheckContext, check

if TYPE_CHECKING:
    import httpx


# -- ingress.signature-chain ---------------------------------------------------------------

CHAIN_ID = "ingress.signature-chain"
DEFAULT_EVENT_TYPE = "neruba.smoke.ping"
LARGE_EVENT_BYTES = 40_000
ACCEPTED = ("accepted", "duplicate")

# cause -> (what broke, what to change)
CAUSES: dict[str, tuple[str, str]] = {
    "header-stripped": (
        "signature header stripped",
        "pass the signature headers (Stripe-Signature, webhook-id/-timestamp/-signature) "
        "through unchanged: no proxy_set_header on them, allow-list them at the CDN/WAF",
    ),
    "signature-mismatch": (
        "signature does not match",
        "either the body is re-encoded on the way (proxy_set_body, JSON re-serialisation, "
        "charset conversion) or webhook_secret/scheme differ from the receiver's; set "
        "origin_url to tell them apart",
    ),
    "secret-mismatch": (
        "signature does not verify at the origin either",
        "webhook_secret or scheme differ from the receiver's (a rotation half done?)",
    ),
    "body-altered": (
        "body re-encoded or re-serialised",
        "forward the raw body byte for byte: no proxy_set_body, no JSON re-serialisation, "
        "charset conversion or decompression before the signature is verified",
    ),
    "size-limit": (
        "body size limit below a realistic event",
        "raise the request body limit to at least 1 MiB (nginx: client_max_body_size 1m)",
    ),
    "redirect": (
        "redirect on the webhook path",
        "serve the webhook path directly (no trailing-slash, scheme or path redirect): "
        "senders treat any 3xx as a failed delivery",
    ),
    "replay": (
        "fresh timestamp refused as a replay",
        "check the receiver's clock (neruba-harden clock) and its tolerance",
    ),
    "rejected": (
        "signed event rejected",
        "check that webhook_secret and scheme match the receiver's; if the origin accepts "
        "the same event, the proxy alters the signature header or the body",
    ),
    "dropped": (
        "connection dropped on a realistic-size event",
        "check the proxy's request body size and upload timeout limits",
    ),
    "route": ("webhook path not served", "check webhook_path and the proxy's routes"),
    "upstream": ("proxy cannot reach the receiver", "check the proxy's upstream address"),
    "receiver-failed": ("receiver failed processing", "read the receiver's logs for the event id"),
    "unexpected": ("unexpected answer", "compare the answer with CONTRACT.md"),
}


def _large_data(run_id: str) -> dict[str, Any]:
    """An invoice with enough line items to weigh about LARGE_EVENT_BYTES, like real ones."""
    from neruba_harden.smoke.events import payment_intent

    data = payment_intent(run_id, "large")
    item = {
        "object": "line_item", "amount": 1500, "currency": "eur", "quantity": 1,
        "description": "Neruba smoke test line item (test mode, no real charge)",
        "period": {"start": 1_733_000_000, "end": 1_735_600_000},
        "metadata": {"neruba_smoke": "true", "sku": "smoke-sku-0000000000"},
    }
    count = LARGE_EVENT_BYTES // 420
    data["lines"] = {"object": "list", "has_more": False,
                     "data": [{**item, "id": f"il_smoke_{i:05d}"} for i in range(count)]}
    return data


def _classify(probe: Probe) -> tuple[bool, str | None, dict[str, Any]]:
    """(accepted, cause, evidence) for the answer to one signed delivery."""
    import json

    info: dict[str, Any] = {"status": probe.status}
    outcome = detail = None
    try:
        body = json.loads(probe.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        outcome = body.get("outcome") if isinstance(body.get("outcome"), str) else None
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
    if outcome:
        info["outcome"] = outcome
    if detail:
        info["detail"] = detail[:120]
    status = probe.status
    if status in (200, 202) and (outcome is None or outcome in ACCEPTED):
        return True, None, info
    if probe.is_redirect:
        info["location"] = probe.location
        return False, "redirect", info
    if status == 413:
        return False, "size-limit", info
    if outcome == "replay":
        return False, "replay", info
    if status in (400, 401, 403):
        text = (detail or "").lower()
        if "missing" in text:
            return False, "header-stripped", info
        if "not valid json" in text or "not a json" in text:
            return False, "body-altered", info
        if "no signature matches" in text or "mismatch" in text:
            return False, "signature-mismatch", info
        return False, "rejected", info
    if status in (404, 405):
        return False, "route", info
    if status in (502, 503, 504) and outcome is None:
        return False, "upstream", info
    if status >= 500:
        return False, "receiver-failed", info
    return False, "unexpected", info


async def _deliver(
    client: httpx.AsyncClient, url: str, scheme: str, secret: str, run_id: str, step: str,
    data: Mapping[str, Any], event_type: str,
) -> dict[str, Any]:
    from neruba_harden.smoke.events import build_event
    from neruba_harden.webhooks import sign_headers

    event = build_event(event_type, data, run_id=run_id, step=step)
    headers = {"Content-Type": "application/json",
               **sign_headers(scheme, event.body, secret, event_id=event.event_id)}
    probe = await probes.fetch(client, url, method="POST", headers=headers, content=event.body,
                               cap=64 * 1024)
    ok, cause, info = _classify(probe)
    result = {"ok": ok, "event_id": event.event_id, "bytes": len(event.body), **info}
    if cause:
        result["cause"] = cause
    return result


async def _link(
    target: Target, base: str, name: str, scheme: str, secret: str, run_id: str,
    event_type: str,
) -> dict[str, Any]:
    from neruba_harden.smoke.events import payment_intent

    url = target.join(target.webhook_path, base=base)
    result: dict[str, Any] = {"url": url}
    async with target.client() as client:
        # the small event proves the link at all: its transport fault is this check's error
        result["small"] = await _deliver(client, url, scheme, secret, run_id,
                                         f"chain_{name}_small", payment_intent(run_id, name),
                                         event_type)
        try:
            result["large"] = await _deliver(client, url, scheme, secret, run_id,
                                             f"chain_{name}_large", _large_data(run_id),
                                             event_type)
            return result
        except ProbeError as exc:  # reachable, yet the big body's connection was dropped
            first_fault = exc.message
    # Once more on a fresh connection, with a fresh event id: a busy proxy may close a
    # keep-alive connection under load, and one dropped connection proves nothing.
    async with target.client() as client:
        try:
            result["large"] = await _deliver(client, url, scheme, secret, run_id,
                                             f"chain_{name}_large2", _large_data(run_id),
                                             event_type)
            result["large"]["retried_after"] = first_fault
        except ProbeError as exc:
            result["large"] = {"ok": False, "cause": "dropped", "fault": exc.message,
                               "first_fault": first_fault}
    return result


def _first_break(link: Mapping[str, Any]) -> tuple[str, str] | None:
    """(size, cause) of the first delivery that did not get through."""
    for size in ("small", "large"):
        if not link[size]["ok"]:
            cause = link[size].get("cause") or "unexpected"
            if size == "large" and cause in ("rejected", "signature-mismatch"):
                cause = "body-altered"  # the small one passed: only the size changed
            return size, cause
    return None


def _refuse_plain_http(ctx: CheckContext, url: str) -> bool:
    """Signed events never go over plain HTTP to a non-loopback host unless allow_http."""
    from urllib.parse import urlsplit

    from neruba_harden.smoke.target import is_loopback

    parts = urlsplit(url)
    return parts.scheme == "http" and not is_loopback(parts.hostname or "") and not \
        ctx.settings.get_bool("allow_http")


@check(CHAIN_ID, title="A signed event survives the proxy chain intact", area="proxy",
       tags=("proxy", "ingress", "webhook"), needs=("url", "webhook_secret"))
async def check_signature_chain(ctx: CheckContext) -> list[Finding]:
    from neruba_harden.smoke.events import new_run_id
    from neruba_harden.webhooks import SCHEMES

    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(CHAIN_ID)]
    ref = ctx.settings.get_str("webhook_secret")
    if not ref:
        return [skipped(CHAIN_ID, "no webhook_secret configured (a secret reference)")]
    scheme = ctx.settings.get_str("scheme", "stripe") or "stripe"
    if scheme not in SCHEMES:
        raise ConfigError(f"key 'scheme' must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    origin = ctx.settings.get_str("origin_url")
    origin = probes.validate_url(origin, "origin_url") if origin else None
    for url in (target.url, origin):
        if url and _refuse_plain_http(ctx, url):
            return [skipped(CHAIN_ID, "refusing signed events over plain HTTP to a remote host",
                            url=url, to_allow="set allow_http = true (key 'allow_http')")]
    secret = probes.resolve_webhook_secret(ctx, ref)
    event_type = ctx.settings.get_str("proxy.event_type", DEFAULT_EVENT_TYPE) or DEFAULT_EVENT_TYPE
    run_id = new_run_id()
    public = await _link(target, target.url, "public", scheme, secret, run_id, event_type)
    evidence: dict[str, Any] = {"scheme": scheme, "public": public}
    origin_link = None
    if origin:
        try:
            origin_link = await _link(target, origin, "origin", scheme, secret, run_id,
                                      event_type)
        except ProbeError as exc:
            return [errored(CHAIN_ID, f"origin_url unreachable: {exc.kind}", exc.hint,
                            **evidence, origin_error=exc.message)]
        evidence["origin"] = origin_link
    public_break = _first_break(public)
    origin_break = _first_break(origin_link) if origin_link else None
    if public_break is None and origin_break is None:
        sizes = f"{public['small']['bytes']} B and {public['large']['bytes'] // 1000} KB"
        where = "public URL and origin" if origin_link else "public URL"
        return [passed(CHAIN_ID, probes.one_line(f"signed events ({sizes}) accepted via {where}"),
                       **evidence)]
    if public_break is None:
        assert origin_break is not None
        phrase, hint = CAUSES[origin_break[1]]
        return [warned(CHAIN_ID, probes.one_line(
                           f"origin rejects what the public URL accepts: {phrase}",
                           "origin rejects what the public URL accepts"),
                       "check origin_url; the origin may rely on headers the proxy adds. " + hint,
                       **evidence, broken_link="origin", cause=origin_break[1])]
    size, cause = public_break
    if origin_link is None:
        link, prefix = "public URL", "public URL breaks signed events"
    elif origin_break is None:
        link, prefix = "proxy", "proxy breaks signed events"
        if cause == "signature-mismatch":  # the origin verifies the same secret: bytes changed
            cause = "body-altered"
    else:
        link, prefix = "receiver", "receiver rejects them at the origin too"
        size, cause = origin_break
        if cause == "signature-mismatch":
            cause = "secret-mismatch"
    phrase, hint = CAUSES[cause]
    return [failed(CHAIN_ID, probes.one_line(f"{prefix}: {phrase}", prefix), hint, **evidence,
                   broken_link=link, cause=cause, failing_event=size)]
