"""Alembic version directory of the control plane (branch label `control`)."""
