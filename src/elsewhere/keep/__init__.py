"""The keep: where a tenant's WebAssembly workload runs on a host, under limits, with its
secrets, and (on real hardware) inside a TEE whose evidence binds the keep's HPKE key."""
