"""Intel DCAP (TDX v4/v5, SGX v3) quote verification with collateral, by Intel's QVL rules.

Data flows: quote bytes → `quote.parse_quote` → `verify.verify_quote` (PCK chain, collateral,
signatures, `tcb` rules) → `claims.build_claims`. See docs/evidence-intel.md.
"""
