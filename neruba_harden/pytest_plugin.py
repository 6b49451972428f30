"""The neruba-harden pytest plugin: the post-deploy smoke sequence as tests, and fixtures.

    pytest --neruba-url=https://staging.example --neruba-secret=env:WEBHOOK_SECRET --neruba-smoke

adds one test item per step (``neruba-smoke::smoke.accepted`` ...). A failing item says
what was sent, what came back and what CONTRACT.md expects; a warning passes with a
``NerubaSmokeWarning``; a step that could not be verified (timeout, refused) is an error;
a skipped step is skipped with the reason. JUnit XML (``--junitxml``) carries the evidence
as properties. Every text that leaves goes through :func:`neruba_harden.redact.scrub`.

Options (group ``neruba``), each from the flag, else the environment variable, else the ini
value, else ``[tool.neruba-harden]`` configuration: ``--neruba-url`` / ``NERUBA_URL`` /
``neruba_url`` (else pytest-base-url's ``--base-url``), ``--neruba-secret`` (a secret
reference, never a value), ``--neruba-scheme``, ``--neruba-webhook-path``,
``--neruba-burst``, ``--neruba-timeout``, ``--neruba-readback-path``,
``--neruba-admin-token`` (a reference), ``--neruba-allow-http`` and ``--neruba-smoke``.

Fixtures: ``neruba_target`` (the resolved SmokeTarget; skips without a URL),
``neruba_webhook`` (a blocking client: ``send(event_type, data, *, event_id=None,
timestamp=None, secret=None) -> Observation``) and ``neruba_sequence`` (the whole
sequence's result, run once per session).

Under pytest-xdist every worker that receives smoke items runs the sequence once; run ids
carry the worker id and randomness, so no two workers' event ids collide.

This module is imported by every pytest run in an environment where neruba-harden is
installed, so it imports nothing heavy (no httpx, hvac, alembic, sqlalchemy, starlette):
the smoke engine loads inside the hooks and fixtures that need it. Nor is it worth
pytest's assertion rewriting (PYTEST_DONT_REWRITE): the plugin asserts nothing a user reads.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from neruba_harden.findings import Finding
    from neruba_harden.smoke.client import BlockingWebhookClient
    from neruba_harden.smoke.runner import SequenceResult
    from neruba_harden.smoke.target import SmokeTarget

# settings key -> (flag, environment variable, ini name, help)
VALUE_OPTIONS: dict[str, tuple[str, str, str, str]] = {
    "url": ("--neruba-url", "NERUBA_URL", "neruba_url", "base URL of the webhook receiver"),
    "webhook_secret": ("--neruba-secret", "NERUBA_SECRET", "neruba_secret",
                       "webhook secret reference: env:NAME, file:PATH or vault:MOUNT/PATH#KEY"),
    "scheme": ("--neruba-scheme", "NERUBA_SCHEME", "neruba_scheme",
               "signing scheme: stripe (default) or standard"),
    "webhook_path": ("--neruba-webhook-path", "NERUBA_WEBHOOK_PATH", "neruba_webhook_path",
                     "path of the webhook route (default /webhooks)"),
    "burst": ("--neruba-burst", "NERUBA_BURST", "neruba_burst",
              "concurrent deliveries in the burst step (default 20)"),
    "timeout": ("--neruba-timeout", "NERUBA_TIMEOUT", "neruba_timeout",
                "seconds per request (default 10)"),
    "readback_path": ("--neruba-readback-path", "NERUBA_READBACK_PATH", "neruba_readback_path",
                      "admin read-back path containing {event_id}"),
    "admin_token": ("--neruba-admin-token", "NERUBA_ADMIN_TOKEN", "neruba_admin_token",
                    "secret reference of the read-back's bearer token"),
}
FLAG_OPTIONS: dict[str, tuple[str, str, str, str]] = {
    "smoke": ("--neruba-smoke", "NERUBA_SMOKE", "neruba_smoke",
              "add the smoke sequence as test items, one per step"),
    "allow_http": ("--neruba-allow-http", "NERUBA_ALLOW_HTTP", "neruba_allow_http",
                   "allow signed requests over plain http:// to a non-loopback host"),
}
MARKER = "neruba_smoke"
SEQUENCE_NODE = "neruba-smoke"
_TRUE = ("1", "true", "yes", "on")

_STATE_KEY = pytest.StashKey[dict[str, Any]]()


class NerubaSmokeWarning(UserWarning):
    """A smoke step came out `warn`: the test passes, the warning says what to look at."""


# -- options ---------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("neruba", "neruba-harden: post-deploy webhook smoke sequence")
    for key, (flag, env, ini, text) in VALUE_OPTIONS.items():
        group.addoption(flag, dest=f"neruba_{key}", default=None, metavar="VALUE",
                        help=f"{text} (env {env}, ini {ini})")
        parser.addini(ini, f"neruba-harden: {text}", default="")
    for key, (flag, env, ini, text) in FLAG_OPTIONS.items():
        group.addoption(flag, dest=f"neruba_{key}", action="store_const", const=True,
                        default=None, help=f"{text} (env {env}, ini {ini})")
        parser.addini(ini, f"neruba-harden: {text}", type="bool", default=False)


def option_value(config: pytest.Config, key: str) -> str | None:
    """A value option: the flag, else the environment variable, else the ini value."""
    flag_dest = f"neruba_{key}"
    _, env, ini, _ = VALUE_OPTIONS[key]
    value = config.getoption(flag_dest, None) or os.environ.get(env) or config.getini(ini)
    if not value and key == "url":
        value = config.getoption("base_url", None)  # pytest-base-url, when installed
    return str(value) if value else None


def option_flag(config: pytest.Config, key: str) -> bool:
    """A flag option: the flag, else the environment variable, else the ini value."""
    _, env, ini, _ = FLAG_OPTIONS[key]
    if config.getoption(f"neruba_{key}", None):
        return True
    if env in os.environ:
        return os.environ[env].strip().lower() in _TRUE
    return bool(config.getini(ini))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a step of the neruba-harden post-deploy smoke sequence"
    )
    config.stash[_STATE_KEY] = {}


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    url = option_value(config, "url")
    if not url:
        return None
    from neruba_harden.redact import scrub

    scheme = option_value(config, "scheme") or "stripe"
    smoke = "on" if option_flag(config, "smoke") else "off"
    return [scrub(f"neruba-harden: {url} (scheme {scheme}, smoke sequence {smoke})")]


# -- the target and the sequence, resolved once per session (per xdist worker) ---------------


def _overrides(config: pytest.Config) -> dict[str, Any]:
    found: dict[str, Any] = {key: option_value(config, key) for key in VALUE_OPTIONS}
    if option_flag(config, "allow_http"):
        found["allow_http"] = True
    return {k: v for k, v in found.items() if v is not None}


def _state(config: pytest.Config) -> dict[str, Any]:
    return config.stash.setdefault(_STATE_KEY, {})


def resolve_target(config: pytest.Config) -> SmokeTarget | None:
    """The configured target; None without a URL. Raises NerubaError once, cached."""
    state = _state(config)
    if "target" not in state:
        from neruba_harden.config import load_settings
        from neruba_harden.errors import NerubaError
        from neruba_harden.smoke.target import SmokeTarget, target_configured

        state["target"], state["target_error"] = None, None
        try:
            settings = load_settings(overrides=_overrides(config), cwd=config.rootpath)
            if target_configured(settings):
                state["target"] = SmokeTarget.from_settings(settings)
        except NerubaError as exc:
            state["target_error"] = exc
    error = state["target_error"]
    if error is not None:
        raise error
    resolved: SmokeTarget | None = state["target"]
    return resolved


NO_TARGET = "no receiver configured: pass --neruba-url (or NERUBA_URL, ini neruba_url)"


def sequence_result(config: pytest.Config) -> SequenceResult | None:
    """The whole sequence's result, run on first use (and only once, even if it raised)."""
    state = _state(config)
    if "sequence" not in state:
        state["sequence"], state["sequence_error"] = None, None
        try:
            target = resolve_target(config)
            if target is not None:
                from neruba_harden.smoke.runner import run_sequence

                state["sequence"] = run_sequence(target)
        except Exception as exc:  # every item reports it; none runs the sequence again
            state["sequence_error"] = exc
    if state["sequence_error"] is not None:
        raise state["sequence_error"]
    result: SequenceResult | None = state["sequence"]
    return result


def _fail_line(exc: BaseException) -> str:
    from neruba_harden.errors import NerubaError
    from neruba_harden.redact import scrub

    if isinstance(exc, NerubaError):
        return scrub(f"neruba-harden: {exc}")
    return scrub(f"neruba-harden: internal error: {type(exc).__name__}: {exc}")


# -- the smoke sequence as test items --------------------------------------------------------


def explain(finding: Finding) -> str:
    """What was sent, what came back and what the contract expects, one item per line."""
    from neruba_harden.redact import scrub

    lines = [f"{finding.check_id}: {finding.summary}"]
    for key, value in finding.evidence.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"  {key}: {text}")
    if finding.hint:
        lines.append(f"  hint: {finding.hint}")
    return scrub("\n".join(lines))


class SmokeSequence(pytest.Collector):
    """The collector that holds the smoke items (node id ``neruba-smoke``)."""

    def collect(self) -> list[pytest.Item]:
        from neruba_harden.smoke.steps import CHECK_IDS

        return [SmokeItem.from_parent(self, name=check_id) for check_id in CHECK_IDS]


class SmokeItem(pytest.Item):
    """One step of the sequence; the sequence itself runs once, at the first item's setup."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(MARKER)
        self.finding: Finding | None = None

    def setup(self) -> None:
        from neruba_harden.findings import Status
        from neruba_harden.redact import scrub

        # Raised during setup, pytest.fail is reported as an error: could not verify.
        try:
            result = sequence_result(self.config)
        except Exception as exc:
            pytest.fail(_fail_line(exc), pytrace=False)
        if result is None:
            pytest.skip(NO_TARGET)
        finding = result.finding(self.name)
        self.finding = finding
        self.user_properties.append(("check_id", finding.check_id))
        self.user_properties.append(("check_status", finding.status.value))
        self.user_properties.append(("summary", scrub(finding.summary)))
        self.user_properties.append(("run_id", result.run_id))
        for key, value in finding.evidence.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            self.user_properties.append((str(key), scrub(text)))
        if finding.hint:
            self.user_properties.append(("hint", scrub(finding.hint)))
        if finding.status is Status.ERROR:
            pytest.fail(explain(finding), pytrace=False)

    def runtest(self) -> None:
        from neruba_harden.findings import Status
        from neruba_harden.redact import scrub

        finding = self.finding
        assert finding is not None
        if finding.status is Status.FAIL:
            pytest.fail(explain(finding), pytrace=False)
        if finding.status is Status.SKIP:
            pytest.skip(scrub(f"{finding.check_id}: {finding.summary}"))
        if finding.status is Status.WARN:
            hint = f"; hint: {finding.hint}" if finding.hint else ""
            warnings.warn(NerubaSmokeWarning(scrub(f"{finding.check_id}: {finding.summary}{hint}")),
                          stacklevel=1)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        # Not a suffix of the node id: pytest would turn the dots of "smoke.accepted" into "::".
        return self.path, None, f"{self.name} (neruba-harden smoke)"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # tryfirst: the items must exist before -k / -m deselect.
    if not option_flag(config, "smoke"):
        return
    sequence = SmokeSequence.from_parent(session, name=SEQUENCE_NODE, nodeid=SEQUENCE_NODE)
    items.extend(sequence.collect())


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def neruba_target(pytestconfig: pytest.Config) -> SmokeTarget:
    """The resolved target (URL, scheme, secret); skips the test when no URL is configured."""
    from neruba_harden.errors import NerubaError

    try:
        target = resolve_target(pytestconfig)
    except NerubaError as exc:
        pytest.fail(_fail_line(exc), pytrace=False)
    if target is None:
        pytest.skip(NO_TARGET)
    return target


@pytest.fixture(scope="session")
def neruba_webhook(neruba_target: SmokeTarget) -> Iterator[BlockingWebhookClient]:
    """A blocking client: ``send(event_type, data, *, event_id=None, timestamp=None,
    secret=None)`` signs a test-mode event and returns the Observation."""
    from neruba_harden.smoke.client import BlockingWebhookClient

    with BlockingWebhookClient(neruba_target) as client:
        yield client


@pytest.fixture(scope="session")
def neruba_sequence(pytestconfig: pytest.Config, neruba_target: SmokeTarget) -> SequenceResult:
    """The whole smoke sequence's result (findings, observations), run once per session."""
    try:
        result = sequence_result(pytestconfig)
    except Exception as exc:
        pytest.fail(_fail_line(exc), pytrace=False)
    assert result is not None  # neruba_target skipped otherwise
    return result
