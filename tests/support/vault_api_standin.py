"""A stand-in for the documented Vault HTTP API subset the secrets checks call.

This is NOT Vault. No Vault or OpenBao server can be installed on the machines these tests
run on, so this small HTTP server (stdlib ``http.server`` in a thread, on an ephemeral
loopback port) answers the few endpoints neruba-harden uses, with the status codes and JSON
shapes the Vault API documentation gives for them:

- ``GET|HEAD /v1/sys/health`` (200 active, 429 standby, 472 DR secondary, 473 performance
  standby, 501 not initialised, 503 sealed; ``standbyok``, ``perfstandbyok`` and the
  ``*code`` query parameters override them as documented);
- ``GET /v1/sys/seal-status``;
- ``GET /v1/auth/token/lookup-self``;
- ``POST /v1/sys/capabilities-self`` (``{"paths": [...]}``);
- ``GET /v1/{mount}/data/{path}`` (KV v2 read, ``?version=N``; 404 with the version's
  metadata when it is deleted or destroyed);
- ``GET /v1/{mount}/metadata/{path}`` (KV v2 metadata).

Authentication is ``X-Vault-Token``: an unknown token gets 403 ``permission denied``, as does
a known token without ``read`` on the path (policies are modelled as a capability list per
path, with Vault's trailing ``*`` glob). Tests drive it through the real hvac client, via
``neruba_harden.vault``; nothing here mocks hvac.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WRITE_CAPABILITIES = ("create", "update", "patch", "delete", "sudo", "root")


def rfc3339(moment: dt.datetime) -> str:
    """Vault's timestamp format: nanosecond precision, UTC, trailing Z."""
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}123Z"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Token:
    """A token: its policies, TTL, renewability and capabilities per path (glob * allowed)."""

    policies: list[str] = field(default_factory=lambda: ["default"])
    ttl: int = 3600
    renewable: bool = True
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    display_name: str = "token"
    token_type: str = "service"

    def capabilities_on(self, path: str) -> list[str]:
        if "root" in self.policies:
            return ["root"]
        if path in self.capabilities:
            return list(self.capabilities[path])
        matches = [p for p in self.capabilities if p.endswith("*") and fnmatch.fnmatchcase(path, p)]
        if not matches:
            return ["deny"]
        return list(self.capabilities[max(matches, key=len)])  # the longest prefix wins

    def can(self, capability: str, path: str) -> bool:
        caps = self.capabilities_on(path)
        return "root" in caps or (capability in caps and "deny" not in caps)


@dataclass
class Version:
    data: dict[str, Any]
    created_time: dt.datetime
    deletion_time: dt.datetime | None = None
    destroyed: bool = False

    def metadata(self, number: int) -> dict[str, Any]:
        return {
            "created_time": rfc3339(self.created_time),
            "custom_metadata": None,
            "deletion_time": rfc3339(self.deletion_time) if self.deletion_time else "",
            "destroyed": self.destroyed,
            "version": number,
        }


@dataclass
class VaultState:
    """What the stand-in answers. Tests change it between (or during) requests."""

    initialized: bool = True
    sealed: bool = False
    standby: bool = False
    performance_standby: bool = False
    delay_s: float = 0.0  # answer slowly, to exercise client timeouts
    tokens: dict[str, Token] = field(default_factory=dict)
    secrets: dict[tuple[str, str], list[Version]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)  # X-Vault-Namespace headers seen

    def add_token(self, token: str, **spec: Any) -> Token:
        self.tokens[token] = Token(**spec)
        return self.tokens[token]

    def put_secret(
        self, mount: str, path: str, data: dict[str, Any], *, age_days: float = 0
    ) -> int:
        """Write a new version, created ``age_days`` ago; return its number."""
        versions = self.secrets.setdefault((mount, path), [])
        versions.append(Version(dict(data), _now() - dt.timedelta(days=age_days)))
        return len(versions)

    def delete_version(self, mount: str, path: str, version: int | None = None) -> None:
        versions = self.secrets[(mount, path)]
        versions[(version or len(versions)) - 1].deletion_time = _now()

    def destroy_version(self, mount: str, path: str, version: int | None = None) -> None:
        versions = self.secrets[(mount, path)]
        target = versions[(version or len(versions)) - 1]
        target.destroyed = True
        target.data = {}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _errors(self, status: int, *messages: str) -> None:
        self._send(status, {"errors": list(messages)})

    def _token(self) -> Token | None:
        value = self.headers.get("X-Vault-Token") or ""
        if not value and self.headers.get("Authorization", "").startswith("Bearer "):
            value = self.headers["Authorization"][len("Bearer "):]
        return self.server.state.tokens.get(value)

    def _envelope(self, data: Any) -> dict[str, Any]:
        return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
                "lease_duration": 0, "data": data, "wrap_info": None, "warnings": None,
                "auth": None}

    def _route(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        state.requests.append((self.command, url.path))
        if self.headers.get("X-Vault-Namespace"):
            state.namespaces.append(self.headers["X-Vault-Namespace"])
        if state.delay_s:
            time.sleep(state.delay_s)
        path = url.path
        if path == "/v1/sys/health" and self.command in ("GET", "HEAD"):
            return self._health(query)
        if path == "/v1/sys/seal-status" and self.command == "GET":
            return self._seal_status()
        if not state.initialized or state.sealed:
            return self._errors(503, "Vault is sealed")
        token = self._token()
        if token is None:
            return self._errors(403, "permission denied")
        if path == "/v1/auth/token/lookup-self" and self.command == "GET":
            return self._lookup_self(token)
        if path == "/v1/sys/capabilities-self" and self.command in ("POST", "PUT"):
            return self._capabilities(token)
        parts = path.removeprefix("/v1/").split("/", 2)
        if len(parts) == 3 and parts[1] in ("data", "metadata") and self.command == "GET":
            mount, kind, secret_path = parts
            if not token.can("read", f"{mount}/{kind}/{secret_path}"):
                return self._errors(403, "permission denied")
            if kind == "data":
                return self._kv_read(mount, secret_path, query.get("version"))
            return self._kv_metadata(mount, secret_path)
        return self._errors(404)

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    # -- endpoints --------------------------------------------------------------------------
    def _health(self, query: dict[str, str]) -> None:
        state = self.server.state

        def code(name: str, default: int) -> int:
            return int(query[name]) if name in query else default

        def flag(name: str) -> bool:
            return query.get(name, "").lower() in ("", "true", "1") and name in query

        active = code("activecode", 200)
        if not state.initialized:
            status = code("uninitcode", 501)
        elif state.sealed:
            status = code("sealedcode", 503)
        elif state.performance_standby:
            status = active if flag("perfstandbyok") else code("performancestandbycode", 473)
        elif state.standby:
            status = active if flag("standbyok") else code("standbycode", 429)
        else:
            status = active
        self._send(status, {
            "initialized": state.initialized,
            "sealed": state.sealed or not state.initialized,
            "standby": state.standby or state.performance_standby,
            "performance_standby": state.performance_standby,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(time.time()),
            "version": "0.0.0-standin",
            "cluster_name": "standin-cluster",
            "cluster_id": "00000000-0000-0000-0000-000000000000",
        })

    def _seal_status(self) -> None:
        state = self.server.state
        self._send(200, {
            "type": "shamir", "initialized": state.initialized,
            "sealed": state.sealed or not state.initialized,
            "t": 3 if state.initialized else 0, "n": 5 if state.initialized else 0,
            "progress": 1 if state.sealed and state.initialized else 0, "nonce": "",
            "version": "0.0.0-standin", "migration": False, "recovery_seal": False,
            "storage_type": "inmem",
        })

    def _lookup_self(self, token: Token) -> None:
        value = self.headers.get("X-Vault-Token", "")
        now = _now()
        self._send(200, self._envelope({
            "accessor": "accessor-" + uuid.uuid5(uuid.NAMESPACE_OID, value).hex[:12],
            "creation_time": int(now.timestamp()) - 60,
            "creation_ttl": token.ttl,
            "display_name": token.display_name,
            "entity_id": "",
            "expire_time": rfc3339(now + dt.timedelta(seconds=token.ttl)) if token.ttl else None,
            "explicit_max_ttl": 0,
            "id": value,  # Vault echoes the token here: the client must never show it
            "issue_time": rfc3339(now - dt.timedelta(seconds=60)),
            "meta": None,
            "num_uses": 0,
            "orphan": False,
            "path": "auth/token/create",
            "policies": list(token.policies),
            "renewable": token.renewable,
            "ttl": token.ttl,
            "type": token.token_type,
        }))

    def _capabilities(self, token: Token) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._errors(400, "failed to parse JSON input")
        paths = body.get("paths") or ([body["path"]] if body.get("path") else [])
        if not paths:
            return self._errors(400, "missing paths")
        result: dict[str, Any] = {p: token.capabilities_on(p) for p in paths}
        if len(paths) == 1:
            result["capabilities"] = result[paths[0]]
        self._send(200, {**result, **self._envelope(dict(result))})

    def _kv_read(self, mount: str, path: str, version: str | None) -> None:
        versions = self.server.state.secrets.get((mount, path))
        if not versions:
            return self._errors(404)
        number = int(version) if version and version != "0" else len(versions)
        if not 1 <= number <= len(versions):
            return self._errors(404)
        chosen = versions[number - 1]
        metadata = chosen.metadata(number)
        if chosen.destroyed or chosen.deletion_time:
            return self._send(404, self._envelope({"data": None, "metadata": metadata}))
        self._send(200, self._envelope({"data": dict(chosen.data), "metadata": metadata}))

    def _kv_metadata(self, mount: str, path: str) -> None:
        versions = self.server.state.secrets.get((mount, path))
        if not versions:
            return self._errors(404)
        self._send(200, self._envelope({
            "cas_required": False,
            "created_time": rfc3339(versions[0].created_time),
            "current_version": len(versions),
            "custom_metadata": None,
            "delete_version_after": "0s",
            "max_versions": 0,
            "oldest_version": 0,
            "updated_time": rfc3339(versions[-1].created_time),
            "versions": {
                str(i): {k: v for k, v in version.metadata(i).items()
                         if k in ("created_time", "deletion_time", "destroyed")}
                for i, version in enumerate(versions, start=1)
            },
        }))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: VaultState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout under test) is expected; anything else is shown.
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class VaultApiStandin:
    """Run the stand-in on 127.0.0.1 on an ephemeral port: ``with VaultApiStandin() as v``."""

    def __init__(self, state: VaultState | None = None) -> None:
        self.state = state or VaultState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="vault-api-standin", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> VaultApiStandin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> VaultApiStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
