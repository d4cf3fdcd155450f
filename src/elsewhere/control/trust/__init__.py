"""Trust decisions beside attestation: tenant policies and advisories, re-checks when they
change, the audit (ledger) entries of decisions, and host reputation."""
