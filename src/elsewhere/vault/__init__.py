"""The personal-data vault's domain: per-subject keys, records, purposes, retention, erasure by
crypto-shredding, receipts and backups that forget (docs/vault.md). Pure functions and frozen
dataclasses; the store tables live in `vault.schema`, the services in `control/vault/`."""
