"""nginx `server` blocks for the edge tests: one correct edge, and variants broken one way each.

Every builder returns the text that goes inside `http { }` (see tests/support/nginx.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.tls import CertFiles

HSTS_ONE_YEAR = "max-age=31536000; includeSubDomains"
# The operator route: reachable only from internal networks, by the connection's address.
ADMIN_ACL = "allow 10.0.0.0/8; allow 192.168.0.0/16; allow 172.16.0.0/12; deny all;"
DOCS_AT_NGINX = r"^/(docs|redoc|openapi\.(json|ya?ml)|swagger|api-docs|v[23]/api-docs)"

# Headers set the way a careful edge sets them: overwrite, never append or pass through.
PROXY_HEADERS = """
            proxy_http_version 1.1;
            proxy_set_header Host {host};
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host "";
            proxy_set_header X-Real-IP $remote_addr;"""


def admin_location(status_file: Path, extra: str = "") -> str:
    """/admin/status served as a static file after the IP allow-list (access phase runs)."""
    return f"""
        location = /admin/status {{
            {extra}
            {ADMIN_ACL}
            default_type application/json;
            alias {status_file};
        }}"""


def proxy_location(upstream: str, extra: str = "", path: str = "/", host: str = "$host") -> str:
    return f"""
        location {path} {{
            proxy_pass {upstream};{PROXY_HEADERS.format(host=host)}
            {extra}
        }}"""


def tls_server(
    port: int, cert: CertFiles, body: str, *, hsts: str | None = HSTS_ONE_YEAR,
    protocols: str = "TLSv1.2 TLSv1.3", ciphers: str | None = None, max_body: str = "1m",
) -> str:
    hsts_line = f'add_header Strict-Transport-Security "{hsts}" always;' if hsts else ""
    ciphers_line = f'ssl_ciphers "{ciphers}";' if ciphers else ""
    return f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert.chain};
        ssl_certificate_key {cert.key};
        ssl_protocols {protocols};
        {ciphers_line}
        client_max_body_size {max_body};
        {hsts_line}
        {body}
    }}"""


def redirect_server(port: int, https_port: int) -> str:
    return f"""
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 301 https://$host:{https_port}$request_uri; }}
    }}"""


def plain_server(port: int, body: str) -> str:
    return f"""
    server {{
        listen 127.0.0.1:{port};
        {body}
    }}"""


def good_edge(https: int, http: int, cert: CertFiles, upstream: str, status_file: Path) -> str:
    """The correct edge: TLS, HSTS a year, http -> https, headers intact, docs denied,
    the operator route behind an allow-list that spoofed headers cannot satisfy."""
    body = f"""
        location ~ {DOCS_AT_NGINX} {{ return 404; }}
        {admin_location(status_file)}
        {proxy_location(upstream)}"""
    return tls_server(https, cert, body) + redirect_server(http, https)


def edge_with(
    https: int, http: int, cert: CertFiles, upstream: str, status_file: Path, *,
    proxy_extra: str = "", server_extra: str = "", hsts: str | None = HSTS_ONE_YEAR,
    max_body: str = "1m", http_body: str | None = None, admin_extra: str = "",
    deny_docs: bool = True, host: str = "$host", http_extra: str = "",
) -> str:
    """The correct edge with one thing changed."""
    docs = f"location ~ {DOCS_AT_NGINX} {{ return 404; }}" if deny_docs else ""
    body = f"""
        {server_extra}
        {docs}
        {admin_location(status_file, admin_extra)}
        {proxy_location(upstream, proxy_extra, host=host)}"""
    plain = plain_server(http, http_body) if http_body is not None else redirect_server(http, https)
    return http_extra + tls_server(https, cert, body, hsts=hsts, max_body=max_body) + plain
