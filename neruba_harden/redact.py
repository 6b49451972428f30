"""The one place that scrubs secret values from every output.

Every resolved secret (webhook secrets, tokens, database passwords) is registered here the
moment it is resolved; renderers, log handlers, the pytest plugin and the CLI's error path
pass their text through :func:`scrub` before it leaves the process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

MASK = "[REDACTED]"
# Values shorter than this are not registered: masking "a" everywhere would wreck output,
# and a secret that short is not a secret worth the name.
MIN_LENGTH = 4

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None
# Credentials embedded in URLs (scheme://user:password@host) are masked even when the URL
# never went through register(): database URLs arrive from flags and files.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s/]+)(?=@)")


def register(value: str | None) -> None:
    """Remember a secret value so that no later output contains it."""
    global _pattern
    if not value or len(value) < MIN_LENGTH:
        return
    with _lock:
        variants = {value, value.strip()}
        # A secret may be shown by a library in another encoding: hex or percent-quoted.
        from urllib.parse import quote

        variants.add(quote(value, safe=""))
        for v in variants:
            if len(v) >= MIN_LENGTH:
                _values.add(v)
        _pattern = re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))


def register_url(url: str | None) -> None:
    """Register the password of a URL such as postgresql://app:pw@host/db."""
    if not url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    register(password)


def registered_count() -> int:
    return len(_values)


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret and URL password masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def scrub_obj(obj: Any) -> Any:
    """Scrub every string inside a JSON-like structure."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, Mapping):
        return {scrub(str(k)): scrub_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [scrub_obj(v) for v in obj]
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs a record's message and its string arguments.

    The arguments stay arguments (some formatters, uvicorn's access log among them, unpack
    them), but every string among them is scrubbed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: scrub(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_logging_filter(logger: logging.Logger | None = None) -> None:
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if not any(isinstance(f, RedactingFilter) for f in target.filters):
        target.addFilter(RedactingFilter())
