"""Alembic version directory of the ledger (branch label `ledger`)."""
