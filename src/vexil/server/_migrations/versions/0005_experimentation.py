"""experimentation: metrics, experiments, exposures, contexts; event indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("cap", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_metrics_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("project_id", "key", name=op.f("uq_metrics_project_id_key")),
    )
    op.create_table(
        "contexts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_contexts_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contexts")),
        sa.UniqueConstraint("environment_id", "key", name=op.f("uq_contexts_environment_id_key")),
    )
    with op.batch_alter_table("contexts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contexts_environment_id_last_seen"),
            ["environment_id", "last_seen"],
            unique=False,
        )

    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("flag_key", sa.String(length=200), nullable=False),
        sa.Column("hypothesis", sa.Text(), nullable=False),
        sa.Column("control", sa.String(length=200), nullable=False),
        sa.Column("primary_metric", sa.String(length=200), nullable=False),
        sa.Column(
            "secondary_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "guardrail_metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "analysis",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "traffic",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_variation", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_experiments_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint(
            "environment_id", "key", name=op.f("uq_experiments_environment_id_key")
        ),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiments_environment_id_flag_key_status"),
            ["environment_id", "flag_key", "status"],
            unique=False,
        )

    op.create_table(
        "experiment_exposures",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("context_key", sa.String(length=500), nullable=False),
        sa.Column("variant", sa.String(length=200), nullable=False),
        sa.Column("first_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_exposures_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "experiment_id", "context_key", "variant", name=op.f("pk_experiment_exposures")
        ),
    )
    with op.batch_alter_table("custom_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_custom_events_environment_id_at"), ["environment_id", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_custom_events_environment_id_name_context_key_at"),
            ["environment_id", "name", "context_key", "at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("custom_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custom_events_environment_id_name_context_key_at"))
        batch_op.drop_index(batch_op.f("ix_custom_events_environment_id_at"))

    op.drop_table("experiment_exposures")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_environment_id_flag_key_status"))

    op.drop_table("experiments")
    with op.batch_alter_table("contexts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contexts_environment_id_last_seen"))

    op.drop_table("contexts")
    op.drop_table("metrics")
