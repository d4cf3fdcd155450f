"""Fresh request ids: 16 hex digits from a per-process PRNG, distinct, and not repeated by a
forked child (its generator is seeded anew from the OS at the fork)."""

from __future__ import annotations

import os
import re

import pytest

from elsewhere.control.http.requestid import request_id


def test_fresh_ids_are_16_hex_digits_and_distinct() -> None:
    made = {request_id([]) for _ in range(10_000)}
    assert len(made) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in made)


def test_a_well_formed_client_id_is_kept() -> None:
    assert request_id([(b"x-request-id", b"trace-42.a:b")]) == "trace-42.a:b"
    assert request_id([(b"x-request-id", b"bad id")]) != "bad id"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, ",".join(request_id([]) for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {request_id([]) for _ in range(8)}
    assert len(child) == 8
    assert not child & parent
