"""evaluation counts by period end, for the dashboard's insights and stale flags

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_evaluation_counts_environment_id_flag_key_period_end"),
        "evaluation_counts",
        ["environment_id", "flag_key", "period_end"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_evaluation_counts_environment_id_flag_key_period_end"),
        table_name="evaluation_counts",
    )
