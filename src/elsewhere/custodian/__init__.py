"""A commons custodian: an independent service holding one share of each dataset's key.

It releases its share, re-sealed to a keep's key, only after it verified the keep's evidence
itself (its own nonce, the proposal's analysis digest and the proposal digest bound into
report_data, its own TEE policy) and the proposal stands (m-of-n approvals with every dataset
owner, no veto it knows of, not expired, ε budget left). It logs every decision in its own
tamper-evident ledger and cosigns the other custodians' checkpoints as a C2SP witness.
"""
