"""Where work runs: placement state, policy eligibility per host, risk-based assignment, the
risk document, and the maintenance round."""
