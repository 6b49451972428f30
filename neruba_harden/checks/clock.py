"""Clock checks: the host's drift measured against NTP servers.

Webhook signatures carry a timestamp that the receiver compares with its own clock
(``tolerance`` seconds either way), and JWTs carry ``iat``/``nbf``/``exp`` judged with a
leeway. A drifting clock eats into both margins before anything else shows it, so the
check reports the measured offset and the headroom left against each.

``offset_s`` follows ntplib and ntpdate: NTP time minus local time, so a positive offset
means the local clock is behind.
"""

from __future__ import annotations

import ipaddress
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from neruba_harden.config import Settings
from neruba_harden.errors import CheckError, ConfigError
from neruba_harden.findings import Finding, Status, skipped
from neruba_harden.registry import CheckContext, check

CHECK_ID = "clock.drift"
NTP_PORT = 123
DEFAULT_WARN_S = 0.5
DEFAULT_FAIL_S = 5.0
DEFAULT_QUERY_TIMEOUT_S = 2.0
DEFAULT_TOLERANCE_S = 300.0
DEFAULT_JWT_LEEWAY_S = 60.0
# Extra time allowed beyond the query timeout for name resolution, which ntplib does
# without a timeout of its own; a thread still resolving after that is abandoned.
RESOLVE_GRACE_S = 1.0
SUMMARY_LIMIT = 79

SKIP_NO_SERVERS = "no NTP servers configured"
HINT_UNREACHABLE = (
    "check that this host reaches the servers over UDP port 123 (firewall, DNS), "
    "or list reachable ones in clock.servers"
)
HINT_UNSYNCHRONISED = (
    "fix or replace the unsynchronised server(s) {names}: they serve time without a "
    "reference; clients syncing from them drift"
)
HINT_DRIFT = (
    "enable chronyd/ntpd on the host and check its sources (chronyc tracking, "
    "timedatectl); investigate the clock: webhook timestamps within {offset:.1f} s of the "
    "{tolerance:g} s tolerance will be rejected, and JWT time claims have {jwt_left:.1f} s "
    "of their {leeway:g} s leeway left"
)


@dataclass(frozen=True)
class NtpServer:
    """One server to query: a host name or address and a UDP port."""

    host: str
    port: int = NTP_PORT

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class DriftOptions:
    """The clock.drift settings, validated."""

    servers: tuple[NtpServer, ...]
    warn_s: float = DEFAULT_WARN_S
    fail_s: float = DEFAULT_FAIL_S
    timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    tolerance_s: float = DEFAULT_TOLERANCE_S
    jwt_leeway_s: float = DEFAULT_JWT_LEEWAY_S


@dataclass
class ServerResult:
    """What one server said, or why it said nothing."""

    server: NtpServer
    offset_s: float | None = None
    delay_s: float | None = None
    stratum: int | None = None
    leap: int | None = None
    ref_id: str | None = None
    error: str | None = None
    unsynchronised: str | None = None  # the reason, when the server admits it

    @property
    def usable(self) -> bool:
        return self.error is None and self.unsynchronised is None and self.offset_s is not None

    def evidence(self) -> dict[str, Any]:
        data: dict[str, Any] = {"host": self.server.host, "port": self.server.port}
        if self.error is not None:
            data.update(status="error", error=self.error)
            return data
        data.update(
            status="unsynchronised" if self.unsynchronised else "ok",
            offset_s=_round(self.offset_s),
            delay_s=_round(self.delay_s),
            stratum=self.stratum,
            leap=self.leap,
            ref_id=self.ref_id,
        )
        if self.unsynchronised:
            data["unsynchronised"] = self.unsynchronised
        return data


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _one_line(text: str, limit: int = SUMMARY_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


# -- settings -------------------------------------------------------------------------------


def parse_server(spec: str) -> NtpServer:
    """Parse ``HOST``, ``HOST:PORT``, ``[IPV6]:PORT``, ``[IPV6]`` or a bare IPv6 address.

    The port defaults to 123. Raises ValueError with a one-line reason.
    """
    text = spec.strip()
    if not text:
        raise ValueError("empty server")
    port_text: str | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"'{spec}': missing ']' after the IPv6 address")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"'{spec}': expected ':PORT' after ']'")
            port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"'{spec}': '{host}' is not an IPv6 address") from None
    elif text.count(":") > 1:  # a bare IPv6 address, no port
        host = text
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(
                f"'{spec}': not HOST:PORT (write an IPv6 address as [ADDRESS]:PORT)"
            ) from None
    else:
        host, sep, port_part = text.partition(":")
        if sep:
            port_text = port_part
    if not host:
        raise ValueError(f"'{spec}': missing host")
    if any(ch.isspace() for ch in host):
        raise ValueError(f"'{spec}': host contains whitespace")
    if port_text is None:
        return NtpServer(host)
    if not port_text.isdigit():
        raise ValueError(f"'{spec}': port '{port_text}' is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"'{spec}': port {port} is out of range 1-65535")
    return NtpServer(host, port)


def drift_options(settings: Settings) -> DriftOptions:
    """Read and validate the clock.* settings; ConfigError names the key."""
    servers = []
    for spec in settings.get_list("clock.servers"):
        try:
            servers.append(parse_server(spec))
        except ValueError as exc:
            raise settings.error("clock.servers", f"has a bad server: {exc}") from None

    def number(key: str, default: float, *, zero_ok: bool = False) -> float:
        value = settings.get_float(key, default)
        assert value is not None
        if value < 0 or (value == 0 and not zero_ok):
            bound = "0 or more" if zero_ok else "greater than 0"
            raise settings.error(key, f"must be {bound}, got {value:g}")
        return value

    options = DriftOptions(
        servers=tuple(dict.fromkeys(servers)),
        warn_s=number("clock.warn", DEFAULT_WARN_S),
        fail_s=number("clock.fail", DEFAULT_FAIL_S),
        timeout_s=number("clock.timeout", DEFAULT_QUERY_TIMEOUT_S),
        tolerance_s=number("tolerance", DEFAULT_TOLERANCE_S),
        jwt_leeway_s=number("clock.jwt_leeway", DEFAULT_JWT_LEEWAY_S, zero_ok=True),
    )
    if options.warn_s > options.fail_s:
        raise settings.error(
            "clock.warn", f"({options.warn_s:g} s) must not exceed clock.fail ({options.fail_s:g} s)"
        )
    return options


def validate_settings(settings: Settings) -> None:
    """Up-front validation (no network): ConfigError naming the file and the key."""
    drift_options(settings)


# -- querying -------------------------------------------------------------------------------


def _ref_id_text(ref_id: int, stratum: int) -> str:
    raw = ref_id.to_bytes(4, "big")
    if stratum <= 1:  # a reference clock name or a kiss code, in ASCII
        return "".join(chr(b) for b in raw if 32 < b < 127)
    return ".".join(str(b) for b in raw)


def _unsynchronised_reason(leap: int, stratum: int, ref_id: str) -> str | None:
    if leap == 3:
        return "leap indicator 3 (clock not synchronised)"
    if stratum == 0:
        return f"stratum 0 (kiss code {ref_id})" if ref_id else "stratum 0 (unspecified)"
    if stratum >= 16:
        return f"stratum {stratum} (unsynchronised)"
    return None


def describe_error(exc: BaseException, server: NtpServer, timeout_s: float) -> str:
    """One line for a failed query: DNS, no answer, network error or a bad packet."""
    import socket

    import ntplib

    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed for {server.host}: {exc.strerror or exc}"
    if isinstance(exc, ntplib.NTPException):
        if "No response" in str(exc):
            return f"no response within {timeout_s:g}s"
        return f"invalid NTP response: {exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no response within {timeout_s:g}s"
    if isinstance(exc, OSError):
        return f"network error: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def query_server(server: NtpServer, timeout_s: float) -> ServerResult:
    """Ask one server for the time (NTPv4); never raises."""
    import ntplib

    result = ServerResult(server)
    try:
        stats = ntplib.NTPClient().request(
            server.host, version=4, port=server.port, timeout=timeout_s
        )
    except Exception as exc:  # every failure is this server's error line
        result.error = describe_error(exc, server, timeout_s)
        return result
    if stats.mode != 4:  # a server answers in mode 4; anything else is not an NTP server
        result.error = f"invalid NTP response: mode {stats.mode}, expected 4 (server)"
        return result
    result.offset_s = float(stats.offset)
    result.delay_s = float(stats.delay)
    result.stratum = int(stats.stratum)
    result.leap = int(stats.leap)
    result.ref_id = _ref_id_text(int(stats.ref_id), result.stratum)
    result.unsynchronised = _unsynchronised_reason(result.leap, result.stratum, result.ref_id)
    if result.unsynchronised is None and stats.tx_timestamp == 0:
        result.unsynchronised = "transmit timestamp is zero"
    return result


def query_servers(
    servers: Sequence[NtpServer], timeout_s: float, grace_s: float = RESOLVE_GRACE_S
) -> list[ServerResult]:
    """Query every server at once, one daemon thread each, bounded by the timeout.

    Daemon threads, not an executor: a thread stuck in name resolution past the deadline
    is abandoned and cannot hold up the report or the interpreter's exit.
    """
    results: list[ServerResult | None] = [None] * len(servers)
    done = threading.Semaphore(0)

    def worker(index: int, server: NtpServer) -> None:
        try:
            results[index] = query_server(server, timeout_s)
        finally:
            done.release()

    for index, server in enumerate(servers):
        threading.Thread(
            target=worker, args=(index, server), name=f"ntp-{server.label}", daemon=True
        ).start()
    deadline = time.monotonic() + timeout_s + grace_s
    for _ in servers:
        if not done.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
    return [
        result
        if result is not None
        else ServerResult(server, error=f"no answer within {timeout_s + grace_s:g}s "
                                        "(name resolution or network stalled)")
        for server, result in zip(servers, results, strict=True)
    ]


# -- judging --------------------------------------------------------------------------------


def _direction(offset: float) -> str:
    return "behind" if offset >= 0 else "ahead of"


def judge(results: Sequence[ServerResult], options: DriftOptions) -> Finding:
    """Turn the servers' answers into one finding."""
    usable = [r for r in results if r.usable]
    unsynced = [r for r in results if r.error is None and r.unsynchronised]
    unreachable = [r for r in results if r.error is not None]
    evidence: dict[str, Any] = {
        "servers": [r.evidence() for r in results],
        "warn_s": options.warn_s,
        "fail_s": options.fail_s,
        "timeout_s": options.timeout_s,
    }
    unsynced_names = ", ".join(r.server.label for r in unsynced)

    if not usable:
        if unsynced:
            return Finding(
                CHECK_ID, Status.ERROR,
                _one_line(f"no synchronised NTP server answered: {unsynced_names} unsynchronised"),
                evidence, HINT_UNSYNCHRONISED.format(names=unsynced_names),
            )
        details = "; ".join(f"{r.server.label} ({r.error})" for r in unreachable)
        return Finding(
            CHECK_ID, Status.ERROR, _one_line(f"no NTP server answered: {details}"),
            evidence, HINT_UNREACHABLE,
        )

    offsets = [r.offset_s for r in usable if r.offset_s is not None]
    median = statistics.median(offsets)
    size = abs(median)
    webhook_headroom = options.tolerance_s - size
    jwt_headroom = options.jwt_leeway_s - size
    evidence.update(
        median_offset_s=_round(median),
        spread_s=_round(max(offsets) - min(offsets)),
        servers_used=len(usable),
        tolerance_s=options.tolerance_s,
        webhook_headroom_s=_round(webhook_headroom),
        jwt_leeway_s=options.jwt_leeway_s,
        jwt_headroom_s=_round(jwt_headroom),
    )
    if unsynced:
        evidence["unsynchronised"] = [r.server.label for r in unsynced]
    if unreachable:
        evidence["unreachable"] = [r.server.label for r in unreachable]

    measured = (
        f"clock {size:.3f} s {_direction(median)} NTP" if size >= 0.0005
        else "clock in step with NTP (<1 ms)"
    )
    used = f"{len(usable)} server{'s' if len(usable) != 1 else ''}"
    drift_hint = HINT_DRIFT.format(
        offset=size, tolerance=options.tolerance_s,
        jwt_left=max(0.0, jwt_headroom), leeway=options.jwt_leeway_s,
    )
    if webhook_headroom <= 0:
        # Past the tolerance every signed webhook is rejected, whatever the thresholds say.
        return Finding(
            CHECK_ID, Status.FAIL,
            _one_line(f"{measured}: beyond the {options.tolerance_s:g} s webhook tolerance"),
            evidence, drift_hint,
        )
    if size >= options.fail_s:
        return Finding(
            CHECK_ID, Status.FAIL,
            _one_line(f"{measured} (fail at {options.fail_s:g} s; median of {used})"),
            evidence, drift_hint,
        )
    if size >= options.warn_s:
        hint = drift_hint
        if unsynced:
            hint += "; " + HINT_UNSYNCHRONISED.format(names=unsynced_names)
        return Finding(
            CHECK_ID, Status.WARN,
            _one_line(f"{measured} (warn at {options.warn_s:g} s; median of {used})"),
            evidence, hint,
        )
    if unsynced:
        return Finding(
            CHECK_ID, Status.WARN,
            _one_line(f"{measured}; set aside unsynchronised {unsynced_names}"),
            evidence, HINT_UNSYNCHRONISED.format(names=unsynced_names),
        )
    if unreachable:
        names = ", ".join(r.server.label for r in unreachable)
        return Finding(
            CHECK_ID, Status.PASS, _one_line(f"{measured}; no answer from {names}"),
            evidence, HINT_UNREACHABLE,
        )
    return Finding(CHECK_ID, Status.PASS, _one_line(f"{measured} (median of {used})"), evidence)


@check(
    CHECK_ID,
    title="Clock drift against NTP servers",
    area="clock",
    tags=("clock", "ntp", "webhooks", "jwt"),
    needs=("clock.servers",),
)
def clock_drift(ctx: CheckContext) -> list[Finding]:
    """Measure the offset against the configured NTP servers and judge its median."""
    try:
        options = drift_options(ctx.settings)
    except ConfigError as exc:
        raise CheckError(str(exc), "fix the clock.* settings") from None
    if not options.servers:
        return [skipped(CHECK_ID, SKIP_NO_SERVERS)]
    # Fit the queries inside the check's own budget, so that a silent server is reported
    # by name rather than swallowed by the runner's generic timeout.
    grace_s = min(RESOLVE_GRACE_S, ctx.timeout_s / 4)
    timeout_s = min(options.timeout_s, max(0.1, ctx.timeout_s - 2 * grace_s))
    options = replace(options, timeout_s=timeout_s)
    return [judge(query_servers(options.servers, timeout_s, grace_s), options)]
