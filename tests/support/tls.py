"""trustme helpers for tests: one private CA and leaf certificates written to files.

    ca = make_ca()
    files = issue(ca, tmp_path, "valid", "localhost", "127.0.0.1")            # a year
    soon = issue(ca, tmp_path, "soon", "127.0.0.1", days=10)                    # expiring
    other = issue(ca, tmp_path, "other", "other.example")                       # wrong host

`files.chain` (leaf then intermediates) and `files.key` are what nginx or uvicorn serve;
`ca_bundle(ca, directory)` is what a client passes as --ca-bundle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class CertFiles:
    """A leaf certificate as PEM files: the chain to serve and its private key."""

    chain: Path
    key: Path


def make_ca() -> trustme.CA:
    return trustme.CA(organization_name="neruba-harden test CA")


def ca_bundle(ca: trustme.CA, directory: Path) -> Path:
    """The CA certificate as a PEM bundle file (what --ca-bundle takes)."""
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def issue(
    ca: trustme.CA, directory: Path, name: str, *hosts: str, days: float = 365
) -> CertFiles:
    """A leaf for ``hosts`` that expires ``days`` from now (plus an hour, so that a
    whole-day count reads exactly ``days``)."""
    now = dt.datetime.now(dt.timezone.utc)
    leaf = ca.issue_cert(
        *hosts,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=days, hours=1),
    )
    directory.mkdir(parents=True, exist_ok=True)
    chain = directory / f"{name}.chain.pem"
    key = directory / f"{name}.key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return CertFiles(chain, key)
