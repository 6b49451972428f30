"""Proxy checks: what the reverse proxy / CDN in front of the receiver trusts and alters.

Check ids:

- ``proxy.host-header``: a random ``Host``, ``X-Forwarded-Host``, ``X-Host``,
  ``X-Forwarded-Server`` or ``Forwarded: host=`` is never reflected in the body, the
  ``Location`` or any other header the service returns (host-header injection).
- ``proxy.forwarded-headers``: spoofed client-IP headers with loopback/private addresses do
  not turn the denied operator route ``admin_path`` into an allowed one (it is first
  confirmed denied without them; open without spoofing is a failure of its own), and a
  spoofed ``X-Forwarded-Proto: https`` on plain HTTP does not skip the HTTPS redirect.
The ``ingress.signature-chain`` check belongs to this area too (it proves the proxy keeps
signatures intact); it lives in :mod:`neruba_harden.checks.ingress`, imported at the end.

Configuration (``[tool.neruba-harden]``):

- ``url``, ``http_url``, ``ca_bundle``, ``webhook_path``, ``admin_path``: see
  :mod:`neruba_harden.checks.probes`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from neruba_harden.checks import probes
from neruba_harden.checks.probes import Probe, ProbeError, Target
from neruba_harden.findings import Finding, errored, failed, passed
from neruba_harden.registry import CheckContext, check

if TYPE_CHECKING:
    import httpx

HOST_ID = "proxy.host-header"
FORWARDED_ID = "proxy.forwarded-headers"

HOST_HEADERS = ("Host", "X-Forwarded-Host", "X-Host", "X-Forwarded-Server", "Forwarded")
CLIENT_IP_HEADERS = (
    "X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP",
    "CF-Connecting-IP", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr",
    "X-Cluster-Client-IP", "Client-IP", "Fastly-Client-IP", "X-Azure-ClientIP",
)
SPOOFED_ADDRESSES = ("127.0.0.1", "10.0.0.1", "192.168.0.1", "172.16.0.1")
PROTO_HEADERS: dict[str, str] = {
    "X-Forwarded-Proto": "https", "X-Forwarded-Scheme": "https", "X-Forwarded-Ssl": "on",
    "Front-End-Https": "on", "X-Url-Scheme": "https", "Forwarded": "proto=https",
}


# -- proxy.host-header ---------------------------------------------------------------------

def _host_value(header: str, host: str) -> str:
    return f'host="{host}"' if header == "Forwarded" else host


def reflections(probe: Probe, canary: str) -> list[str]:
    """Where in a response the canary host shows up (never the surrounding text)."""
    needle = canary.lower()
    where = []
    if needle in probe.text.lower():
        where.append("body")
    for name, value in probe.headers:
        if needle in value.lower():
            where.append(name.lower())
    return sorted(set(where))


@check(HOST_ID, title="Spoofed Host / X-Forwarded-Host is never reflected", area="proxy",
       tags=("proxy", "http"), needs=("url",))
async def check_host_header(ctx: CheckContext) -> list[Finding]:
    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(HOST_ID)]
    paths = {
        "/": target.url,
        "(missing page)": target.join(f"/neruba-absent-{probes.token()}"),
        target.webhook_path: target.join(target.webhook_path),
    }
    async with target.client() as client:
        await probes.reach(client, target.url)
        jobs = [_host_probe(client, header, label, url)
                for header in HOST_HEADERS for label, url in paths.items()]
        results = await probes.gather_limited(jobs)
    reflected = [r for r in results if r.get("where")]
    unverified = [r for r in results if r.get("unverified")]
    evidence: dict[str, Any] = {"probes": len(results), "headers": list(HOST_HEADERS),
                                "paths": list(paths)}
    if reflected:
        evidence["reflected"] = reflected
        names = sorted({r["header"] for r in reflected})
        return [failed(HOST_ID, probes.one_line(f"spoofed {', '.join(names)} is reflected",
                                                f"{len(names)} spoofed host headers are reflected"),
                       "build absolute URLs from a configured public host, never from Host or "
                       "X-Forwarded-Host; at the proxy, set Host to the server name and drop "
                       "X-Forwarded-Host from clients", **evidence)]
    if unverified:
        return [errored(HOST_ID, f"could not verify {len(unverified)} of {len(results)} probes",
                        "see the unverified probes; retry with a longer --timeout",
                        **evidence, unverified=unverified)]
    return [passed(HOST_ID, f"no spoofed host reflected ({len(results)} probes)", **evidence)]


async def _host_probe(
    client: httpx.AsyncClient, header: str, label: str, url: str
) -> dict[str, Any]:
    canary = probes.canary_host()
    result: dict[str, Any] = {"header": header, "path": label}
    try:
        probe = await probes.fetch(client, url, headers={header: _host_value(header, canary)})
    except ProbeError as exc:
        if exc.kind in ("protocol", "other"):  # the proxy dropped the request: not reflected
            result["status"] = f"closed ({exc.kind})"
            return result
        result["unverified"] = exc.kind
        return result
    result["status"] = probe.status
    result["where"] = reflections(probe, canary)
    if probe.truncated and not result["where"]:
        result["unverified"] = f"body over {probes.BODY_CAP} bytes"
    if not result["where"]:
        del result["where"]
    return result


# -- proxy.forwarded-headers ---------------------------------------------------------------

def _is_allowed(probe: Probe) -> bool:
    return 200 <= probe.status < 300


def _client_ip_value(header: str, address: str) -> str:
    return f"for={address}" if header == "Forwarded" else address


async def _culprits(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str],
    opened: Callable[[Probe], bool],
) -> list[str]:
    """Which single headers of a combination that worked do it on their own."""
    found = []
    for name, value in headers.items():
        probe = await probes.fetch(client, url, headers={name: value})
        if opened(probe):
            found.append(name)
    return found or [f"combination of {', '.join(headers)}"]


async def _admin_part(client: httpx.AsyncClient, target: Target) -> dict[str, Any]:
    url = target.join(target.admin_path)
    baseline = await probes.fetch(client, url)
    part: dict[str, Any] = {"path": target.admin_path, "baseline_status": baseline.status}
    if _is_allowed(baseline):
        part["result"] = "open without spoofing"
        return part
    if baseline.status == 404:
        part["note"] = "admin_path answers 404; point it at a route that exists and is denied"
    tried = []
    for address in SPOOFED_ADDRESSES:
        headers = {h: _client_ip_value(h, address) for h in CLIENT_IP_HEADERS}
        probe = await probes.fetch(client, url, headers=headers)
        tried.append(f"{address} -> {probe.status}")
        if _is_allowed(probe):
            part["result"] = "bypassed"
            part["address"] = address
            part["headers"] = await _culprits(client, url, headers, _is_allowed)
            break
    else:
        part["result"] = "denied"
    part["spoofed"] = tried
    return part


async def _proto_part(client: httpx.AsyncClient, target: Target) -> dict[str, Any]:
    url = target.http_url
    part: dict[str, Any] = {"http_url": url}
    try:
        baseline = await probes.fetch(client, url)
    except ProbeError as exc:
        part["result"] = f"not tested: plain HTTP unreachable ({exc.kind})"
        return part
    if not (baseline.is_redirect and (baseline.location or "").startswith("https://")):
        part["result"] = "not tested: plain HTTP does not redirect (see transport.https-redirect)"
        return part

    def skipped_redirect(probe: Probe) -> bool:
        return not (probe.is_redirect and (probe.location or "").startswith("https://"))

    probe = await probes.fetch(client, url, headers=PROTO_HEADERS)
    part["spoofed_status"] = probe.status
    if skipped_redirect(probe):
        part["result"] = "redirect skipped"
        part["headers"] = await _culprits(client, url, PROTO_HEADERS, skipped_redirect)
    else:
        part["result"] = "still redirects"
    return part


@check(FORWARDED_ID, title="Spoofed forwarding headers grant nothing", area="proxy",
       tags=("proxy", "http"), needs=("url",))
async def check_forwarded_headers(ctx: CheckContext) -> list[Finding]:
    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(FORWARDED_ID)]
    async with target.client() as client:
        await probes.reach(client, target.url)
        admin = await _admin_part(client, target)
        proto = await _proto_part(client, target)
    evidence = {"admin": admin, "proto": proto}
    problems: list[tuple[str, str]] = []
    if admin["result"] == "open without spoofing":
        problems.append((probes.one_line(f"{target.admin_path} is open without any spoofing",
                                         "admin_path is open without any spoofing"),
                         "deny the operator route to the public (auth or proxy allow-list)"))
    elif admin["result"] == "bypassed":
        names = ", ".join(admin["headers"])
        problems.append((probes.one_line(f"spoofed {names} opens {target.admin_path}",
                                         "spoofed client-IP headers open admin_path"),
                         "trust client-IP headers only from your own proxies (nginx: "
                         "set_real_ip_from <proxy CIDR>, never 0.0.0.0/0); overwrite them at "
                         "the edge"))
    if proto["result"] == "redirect skipped":
        names = ", ".join(proto["headers"])
        problems.append((probes.one_line(f"spoofed {names} skips the HTTPS redirect",
                                         "spoofed scheme headers skip the HTTPS redirect"),
                         "decide on the scheme at the edge: overwrite X-Forwarded-Proto with "
                         "$scheme, never pass the client's value through"))
    if problems:
        return [failed(FORWARDED_ID, problems[0][0], " ".join(p[1] for p in problems),
                       **evidence)]
    return [passed(FORWARDED_ID, probes.one_line(
        f"spoofed client-IP headers do not open {target.admin_path}",
        "spoofed client-IP headers do not open admin_path"), **evidence)]


# ingress.signature-chain registers under this area; see that module.
from neruba_harden.checks import ingress as _ingress  # noqa: E402,F401
