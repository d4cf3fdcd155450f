"""Alembic version directory of the commons custodian (branch label `custodian`)."""
