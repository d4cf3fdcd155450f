"""Control plane: tenants, workloads, secrets, policy, scheduling, attestation and release."""
