"""Tamper-evident ledger of trust decisions: an RFC 9162 Merkle log with C2SP signed checkpoints.

Flow: entry (typed constructor) → canonical JSON bytes (RFC 8785) → leaf hash → stored tree
(store) → signed checkpoint (note, checkpoint) → proofs and offline bundles (bundle) that an
outside party verifies with nothing but the log's verifier key.
"""
