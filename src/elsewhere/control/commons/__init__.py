"""The control plane's side of the data commons: a public registry (roster, ciphertexts,
proposals, signed decisions, sealed results) whose every change is a ledger entry. It holds
no dataset key and decides nothing: custodians decide (docs/commons.md)."""
