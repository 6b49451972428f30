"""The content markers and parsers behind the checks, on sample bodies (no network)."""

from __future__ import annotations

import json

import pytest

from neruba_harden.checks.exposure import DEBUG_SURFACES, docs_marker
from neruba_harden.checks.ingress import _classify
from neruba_harden.checks.probes import Probe, default_http_url, fault_line, is_login_url
from neruba_harden.checks.proxy import reflections
from neruba_harden.checks.transport import parse_hsts


def probe(body: str | bytes, status: int = 200, content_type: str = "text/html",
          **headers: str) -> Probe:
    raw = body.encode() if isinstance(body, str) else body
    items = (("content-type", content_type), *((k.replace("_", "-"), v) for k, v in headers.items()))
    return Probe("https://api.example.test/x", status, tuple(items), raw, False)


@pytest.mark.parametrize(("body", "expected"), [
    (json.dumps({"openapi": "3.1.0", "info": {}, "paths": {}}), "OpenAPI document"),
    (json.dumps({"swagger": "2.0", "paths": {"/a": {}}}), "Swagger document"),
    ("openapi: 3.0.3\ninfo:\n  title: x\npaths:\n  /a: {}\n", "OpenAPI document"),
    ("<title>Swagger UI: OAuth2 Redirect</title><script>oauth2</script>", "Swagger UI"),
    ('<div id="swagger-ui"></div>', "Swagger UI"),
    ('<redoc spec-url="/openapi.json"></redoc>', "ReDoc"),
    ('<rapi-doc spec-url="x"></rapi-doc>', "RapiDoc"),
    ('<script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>', "Scalar"),
    (json.dumps({"paths": {}, "title": "not a spec"}), None),
    ("<html><title>Not Found</title><body>Not Found</body></html>", None),
    (json.dumps({"detail": "Not Found"}), None),
])
def test_docs_markers(body: str, expected: str | None) -> None:
    assert docs_marker(probe(body)) == expected


SURFACES = {s.path: s for s in DEBUG_SURFACES}


@pytest.mark.parametrize(("path", "body", "hit"), [
    ("/.env", "APP_KEY=base64:abc\nDB_PASSWORD=x\n", True),
    ("/.env", "export SECRET_KEY=abc\n", True),
    ("/.env", "Not Found\n", False),
    ("/.env", "<html><body>KEY=VALUE</body></html>", False),
    ("/.env", '{"detail": "a=b"}', False),
    ("/.env", "page=1\n", False),
    ("/.git/config", "[core]\n\tbare = false\n", True),
    ("/.git/config", "<html>Not Found</html>", False),
    ("/.git/HEAD", "ref: refs/heads/main\n", True),
    ("/server-status", "<h1>Apache Server Status for x</h1>", True),
    ("/phpinfo.php", "<title>PHP 8.2.1 - phpinfo()</title>", True),
    ("/metrics", "# HELP up Up.\n# TYPE up gauge\nup 1\n", True),
    ("/metrics", "metrics are private", False),
    ("/debug/pprof/", "Types of profiles available:", True),
    ("/actuator", '{"_links": {"self": {"href": "x"}}}', True),
    ("/actuator", "<html>_links</html>", False),
    ("/console", "<title>Console // Werkzeug Debugger</title> __debugger__", True),
    ("/console", "<title>Console</title>", False),
])
def test_debug_markers(path: str, body: str, hit: bool) -> None:
    assert SURFACES[path].matches(probe(body)) is hit


def test_heapdump_is_judged_on_headers_from_a_head_request() -> None:
    surface = SURFACES["/actuator/heapdump"]
    assert surface.method == "HEAD"
    assert surface.matches(probe(b"", content_type="application/octet-stream"))
    assert not surface.matches(probe(b"", content_type="text/html"))


@pytest.mark.parametrize(("value", "parsed"), [
    ("max-age=31536000; includeSubDomains; preload",
     {"max_age": 31536000, "include_subdomains": True, "preload": True}),
    ('max-age="600"', {"max_age": 600, "include_subdomains": False, "preload": False}),
    ("MAX-AGE=5;INCLUDESUBDOMAINS", {"max_age": 5, "include_subdomains": True, "preload": False}),
])
def test_parse_hsts(value: str, parsed: dict[str, object]) -> None:
    assert parse_hsts(value) == parsed


@pytest.mark.parametrize("value", ["includeSubDomains", "max-age=abc", "max-age=1; max-age=2",
                                   "max-age=-1"])
def test_parse_hsts_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        parse_hsts(value)


@pytest.mark.parametrize(("status", "body", "headers", "cause"), [
    (200, {"outcome": "accepted"}, {}, None),
    (200, {"outcome": "duplicate"}, {}, None),
    (202, None, {}, None),
    (308, None, {"location": "/webhooks/"}, "redirect"),
    (413, None, {}, "size-limit"),
    (400, {"outcome": "rejected", "detail": "the signature header is missing"}, {},
     "header-stripped"),
    (400, {"outcome": "rejected", "detail": "no signature matches the payload and secret"}, {},
     "signature-mismatch"),
    (400, {"outcome": "replay"}, {}, "replay"),
    (401, None, {}, "rejected"),
    (404, None, {}, "route"),
    (502, None, {}, "upstream"),
    (500, {"outcome": "failed"}, {}, "receiver-failed"),
    (200, {"outcome": "rejected"}, {}, "unexpected"),
])
def test_delivery_answers_are_classified(
    status: int, body: dict[str, str] | None, headers: dict[str, str], cause: str | None
) -> None:
    raw = json.dumps(body).encode() if body is not None else b""
    ok, found, _info = _classify(probe(raw, status, "application/json", **headers))
    assert found == cause and ok is (cause is None)


def test_reflections_name_where_not_what() -> None:
    answer = probe('{"self": "https://neruba-ab12.example/"}', 302,
                   location="https://NERUBA-AB12.example/login")
    assert reflections(answer, "neruba-ab12.example") == ["body", "location"]
    assert reflections(probe("nothing here"), "neruba-ab12.example") == []


def test_login_urls_and_defaults() -> None:
    assert is_login_url("https://h/login?next=/docs")
    assert is_login_url("https://sso.example/oauth2/authorize")
    assert not is_login_url("https://h/swagger-ui/index.html")
    assert default_http_url("https://api.example.test:8443/v1") == "http://api.example.test/v1"
    assert default_http_url("http://api.example.test/") == "http://api.example.test/"
    long_url = "https://" + "a" * 120 + ".example/"
    assert len(fault_line("dns", long_url)) < 80
