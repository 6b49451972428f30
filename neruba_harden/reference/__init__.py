"""A reference webhook receiver that follows CONTRACT.md (Starlette, SQLAlchemy, Alembic).

The embedded default target of the demo and of the project's tests, with fault switches
(`FAULTS`) that each break one control. Heavy modules load on first use:

    from neruba_harden.reference import ReceiverSettings, running_receiver
    with running_receiver(ReceiverSettings(db_url="sqlite:///r.db", secrets=[s])) as url:
        ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neruba_harden.reference.faults import FAULTS
from neruba_harden.reference.settings import ReceiverSettings

if TYPE_CHECKING:
    from neruba_harden.reference.app import create_app
    from neruba_harden.reference.schema import migrate
    from neruba_harden.reference.server import running_receiver, serve

__all__ = ["FAULTS", "ReceiverSettings", "create_app", "migrate", "running_receiver", "serve"]

_LAZY = {
    "create_app": "neruba_harden.reference.app",
    "migrate": "neruba_harden.reference.schema",
    "running_receiver": "neruba_harden.reference.server",
    "serve": "neruba_harden.reference.server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
