"""Claims ledger without a unique constraint, used only by the `racy-dedupe` fault.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # Deliberately not unique: check-then-insert is what the fault demonstrates.
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhook_claims_event_id", "webhook_claims", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_claims_event_id", table_name="webhook_claims")
    op.drop_table("webhook_claims")
