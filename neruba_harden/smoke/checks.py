"""The smoke sequence as a registered check: `neruba-harden preflight` and `smoke` run it.

One check, ``smoke.sequence``, emits one finding per step (``smoke.accepted`` ...
``smoke.readback``). Without a ``url`` it emits a single skip with the reason. A target the
sequence must not send to (plain http:// to a non-loopback host without ``allow_http``) or a
secret reference that does not resolve is this check's single ``error`` finding here; the
``smoke`` command refuses both up front with exit 2 instead.
"""

from __future__ import annotations

from collections.abc import Callable

from neruba_harden.errors import SecretError
from neruba_harden.findings import Finding, skipped
from neruba_harden.registry import CheckContext, check
from neruba_harden.smoke.steps import CHECK_IDS, TITLES
from neruba_harden.smoke.target import SmokeTarget, target_configured, validate_settings

__all__ = ["SEQUENCE_ID", "TARGET_CACHE_KEY", "smoke_sequence", "validate_settings"]

SEQUENCE_ID = "smoke.sequence"
# A command that already resolved the target hands it over through CheckContext.cache.
TARGET_CACHE_KEY = "smoke.target"
# The registry's bound on the whole check. Each request is bounded by the target's
# `timeout` (at most 120s) and the longest chain is four requests, so this never cuts a
# sequence that is still making progress.
SEQUENCE_TIMEOUT_S = 600.0


@check(
    SEQUENCE_ID,
    title="Post-deploy smoke sequence (CONTRACT.md)",
    area="smoke",
    tags=("webhooks", "post-deploy"),
    needs=("url", "webhook_secret"),
    emits=(SEQUENCE_ID, *CHECK_IDS),
    timeout=SEQUENCE_TIMEOUT_S,
    titles=TITLES,
)
async def smoke_sequence(ctx: CheckContext) -> list[Finding]:
    """Run the whole sequence against the configured receiver; one finding per step."""
    target = ctx.cache.get(TARGET_CACHE_KEY)
    if not isinstance(target, SmokeTarget):
        if not target_configured(ctx.settings):
            return [skipped(SEQUENCE_ID, "no receiver configured (key 'url')")]
        target = SmokeTarget.from_settings(ctx.settings, resolve=_resolver(ctx))
    from neruba_harden.smoke.runner import run_sequence_async

    result = await run_sequence_async(target)
    ctx.cache["smoke.result"] = result
    return result.findings


def _resolver(ctx: CheckContext) -> Callable[[str], str]:
    """ctx.secret, with a reference that does not resolve (Vault sealed, a variable unset)
    turned into a CheckError whose summary names the key and the cause in one short line
    (``cannot resolve webhook_secret: Vault at https://vault:8200 is sealed``)."""
    from neruba_harden.checks.probes import unresolved_secret

    keys: dict[str, str] = {}
    for key in ("admin_token", "webhook_secret"):  # the webhook secret wins a shared ref
        ref = ctx.settings.get_str(key)
        if ref:
            keys[ref.strip()] = key

    def resolve(ref: str) -> str:
        try:
            return ctx.secret(ref)
        except SecretError as exc:
            raise unresolved_secret(keys.get(ref, "webhook_secret"), ref, exc) from None

    return resolve
