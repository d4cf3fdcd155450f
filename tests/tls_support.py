"""A test CA and loopback server certificates (pyca cryptography): the custodians of the
commons tests serve TLS with these, and their clients verify against the CA file."""

from __future__ import annotations

from elsewhere.crypto.devtls import DevCA, ServerFiles

__all__ = ["DevCA", "ServerFiles"]
