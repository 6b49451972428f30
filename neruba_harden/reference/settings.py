"""Settings of the reference receiver: one frozen dataclass, no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass, field

from neruba_harden.reference.faults import validate_faults

DOCS_MODES = ("open", "gated", "disabled")


@dataclass(frozen=True, repr=False)
class ReceiverSettings:
    """What the reference receiver is configured with.

    `secrets` holds resolved values (several during rotation: any one may sign). `faults`
    holds names from `neruba_harden.reference.faults.FAULTS`.
    """

    db_url: str
    secrets: list[str]
    scheme: str = "stripe"
    webhook_path: str = "/webhooks"
    readback_path: str = "/webhooks/events/{event_id}"
    admin_token: str | None = None
    tolerance: int = 300
    fail_event_type: str = "neruba.smoke.fail"
    faults: frozenset[str] = field(default_factory=frozenset)
    docs: str = "open"

    def __post_init__(self) -> None:
        from neruba_harden.webhooks import SCHEMES

        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown signing scheme {self.scheme!r}; expected one of {SCHEMES}")
        if not self.secrets and "no-signature-check" not in self.faults:
            raise ValueError("the receiver needs at least one webhook secret")
        if self.docs not in DOCS_MODES:
            raise ValueError(f"docs must be one of {', '.join(DOCS_MODES)}, not {self.docs!r}")
        if not self.webhook_path.startswith("/"):
            raise ValueError("webhook_path must start with '/'")
        if not self.readback_path.startswith("/") or "{event_id}" not in self.readback_path:
            raise ValueError("readback_path must start with '/' and contain {event_id}")
        if self.tolerance < 0:
            raise ValueError("tolerance must be zero or more seconds")
        object.__setattr__(self, "faults", validate_faults(self.faults))
        object.__setattr__(self, "secrets", list(self.secrets))

    def has(self, fault: str) -> bool:
        """Whether the fault switch `fault` is on."""
        return fault in self.faults

    def __repr__(self) -> str:
        # Never show secret values, not even in a traceback or a debugger.
        return (
            f"ReceiverSettings(db_url=<{self.db_url.split(':', 1)[0]}>, "
            f"secrets=<{len(self.secrets)}>, scheme={self.scheme!r}, "
            f"webhook_path={self.webhook_path!r}, admin_token="
            f"{'<set>' if self.admin_token else None}, faults={sorted(self.faults)!r}, "
            f"docs={self.docs!r})"
        )
