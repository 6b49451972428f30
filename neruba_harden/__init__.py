"""neruba-harden: deployment-hardening checks for the Neruba payment-webhook API.

This module stays import-light on purpose: pytest loads the plugin (and with it this
package) on every run, so nothing heavy (httpx, hvac, alembic, sqlalchemy, starlette)
may be imported here.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
