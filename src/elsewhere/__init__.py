"""Elsewhere: run WebAssembly workloads only where hardware attestation vouches for the host."""

__version__ = "0.1.0"
