"""AMD SEV-SNP evidence: report layout (abi), certificates (certs), pinned roots (roots),
checks (verify), normalised claims (claims), Azure HCL unwrapping (hcl) and an emulated
platform for development and tests (emulate)."""
