"""The control plane's store: tables, transactions, the group commit, ids and migrations."""
