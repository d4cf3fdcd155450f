"""The attestation broker: nonces, attest and release, result tokens, sealed secrets and
results. Services: raise domain errors (elsewhere.errors), never HTTP ones."""
