"""The ledger's public routes over real HTTP on loopback, SQLite and PostgreSQL: the vkey lines
`--key` reads, the signed checkpoint, tlog-tiles tiles and entry bundles (read by an
independent C2SP client from PyPI, tlog-scales), consistency proofs, caching headers, and bad
paths answered 400/404 in one line. Checkpoints here are signed by the control plane itself
(the checkpoint-signer lease holder), never by the test."""

from __future__ import annotations

from pathlib import Path

import httpx
from tlog_scales.backend import HttpBackend
from tlog_scales.reader import TilesReader
from tlog_scales.signing import Vkey
from tlog_scales.tiles import leaf_hash as their_leaf_hash

from control_helpers import Env, control_plane, database_url
from elsewhere.ledger import merkle, tiles
from elsewhere.ledger.checkpoint import open_checkpoint
from elsewhere.ledger.note import Verifier, b64decode
from waits import wait_for

__all__ = ["database_url"]
ENTRIES = 600  # two full level-0 tiles, a partial one of 88, and a level-1 partial of 2


def append(env: Env, count: int, start: int = 0) -> None:
    entries = [{"kind": "test.entry", "n": start + n} for n in range(count)]
    env.cp.ledger.append_many(entries)


def signed_size(env: Env, size: int) -> bytes:
    """The served checkpoint once it covers `size` entries (the control plane signs it)."""

    def check() -> bytes | None:
        answer = httpx.get(f"{env.url}/v1/ledger/checkpoint")
        if answer.status_code != 200:
            return None
        note = answer.content
        return note if int(note.split(b"\n")[1]) >= size else None

    return wait_for(check)


def test_tiles_checkpoint_and_key_read_by_an_independent_client(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        append(env, ENTRIES)
        note = signed_size(env, ENTRIES)
        key = httpx.get(f"{env.url}/v1/ledger/key")
        assert key.headers["content-type"] == "text/plain; charset=utf-8"
        (vkey,) = key.text.splitlines()
        assert key.text == vkey + "\n"
        mine = open_checkpoint(note, Verifier.parse(vkey))
        assert mine.size == ENTRIES

        # tlog-scales (PyPI, its own implementation) reads our checkpoint, tiles and bundles.
        reader = TilesReader(HttpBackend(f"{env.url}/v1/ledger"))
        theirs = reader.get_checkpoint()
        theirs.verify(Vkey.from_string(vkey))
        assert (theirs.origin, theirs.size, theirs.root_hash) == (
            mine.origin,
            mine.size,
            mine.root,
        )
        assert reader.calculate_root_hash() == mine.root
        for index in (0, 255, 256, 511, 599):
            entry = reader.get_entry(index)
            assert entry == env.cp.ledger.entry_bytes(index)
            proof = reader.get_inclusion_proof(index, mine.size)
            proof.check(their_leaf_hash(entry), mine.root)
            assert proof.node_hashes == env.cp.ledger.inclusion_proof(index, mine.size)
        # Their consistency proof, and ours over HTTP, from an earlier size.
        old_root = env.cp.ledger.root(300)
        theirs_proof = reader.get_consistency_proof(300, mine.size)
        theirs_proof.check(old_root, mine.root)
        served = httpx.get(f"{env.url}/v1/ledger/consistency", params={"old": 300})
        assert served.status_code == 200, served.text
        hashes = [b64decode(line, "proof") for line in served.text.splitlines()]
        assert hashes == theirs_proof.node_hashes
        merkle.verify_consistency(300, mine.size, old_root, mine.root, hashes)


def test_tile_paths_headers_and_refusals(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        append(env, ENTRIES)
        signed_size(env, ENTRIES)
        base = f"{env.url}/v1/ledger"  # no token on any request here: anyone can verify

        full = httpx.get(f"{base}/tile/0/001")
        assert full.status_code == 200 and len(full.content) == 256 * 32
        assert full.headers["content-type"] == "application/octet-stream"
        assert "immutable" in full.headers["cache-control"]
        leaves = [merkle.leaf_hash(d) for d in env.cp.ledger.entries_bytes(256, 512)]
        assert full.content == b"".join(leaves)

        partial = httpx.get(f"{base}/tile/0/002.p/88")
        assert partial.status_code == 200 and len(partial.content) == 88 * 32
        assert "immutable" not in partial.headers["cache-control"]
        level1 = httpx.get(f"{base}/tile/1/000.p/2")
        assert level1.content[:32] == merkle.root_of(
            [merkle.leaf_hash(d) for d in env.cp.ledger.entries_bytes(0, 256)]
        )
        bundle = httpx.get(f"{base}/tile/entries/000")
        assert tiles.parse_entry_bundle(bundle.content) == env.cp.ledger.entries_bytes(0, 256)
        assert "immutable" in bundle.headers["cache-control"]
        checkpoint = httpx.get(f"{base}/checkpoint")
        assert checkpoint.headers["content-type"] == "text/plain; charset=utf-8"
        assert "immutable" not in checkpoint.headers["cache-control"]

        # Malformed: 400; well-formed but not in the tree: 404. One line each, never a 500.
        for path, status in [
            ("tile/0/1", 400),  # not a 3-digit group
            ("tile/00/000", 400),  # leading zero in the level
            ("tile/64/000", 400),
            ("tile/0/x000/001", 400),  # non-canonical index
            ("tile/0/000.p/256", 400),
            ("tile/0/000.p/0", 400),
            ("tile/0/000.p/088", 400),
            ("tile/entries", 400),
            ("tile/zero/000", 400),
            ("tile/0/003", 404),  # the tree has only 2 full level-0 tiles
            ("tile/0/002", 404),
            ("tile/0/002.p/89", 404),
            ("tile/1/000", 404),
            ("tile/entries/x001/000", 404),
            ("consistency?old=abc", 400),
            ("consistency?old=-1", 400),
            ("consistency?old=0100", 400),
            ("consistency", 400),
            ("consistency?old=0", 200),
            ("consistency?old=500&new=400", 400),
            ("consistency?old=1&new=601", 404),
            ("consistency?old=600&new=600", 200),
        ]:
            answer = httpx.get(f"{base}/{path}")
            assert answer.status_code == status, (path, answer.text)
            if status >= 400:
                assert "\n" not in answer.json()["error"], path

        # The commons' bundle list past the signed size: empty, not a 64-bit overflow (500).
        for start, status in [(2**70, 200), (600, 200), (-(2**70), 400), (-1, 400)]:
            answer = httpx.get(f"{env.url}/v1/commons/log/bundles", params={"start": start})
            assert answer.status_code == status, (start, answer.text)


def test_an_empty_log_is_signed_too(tmp_path: Path) -> None:
    """A new log has a checkpoint (of the empty tree) to show before anything is appended."""
    with control_plane(tmp_path) as env:
        note = signed_size(env, 0)
        vkey = httpx.get(f"{env.url}/v1/ledger/key").text.strip()
        signed = open_checkpoint(note, Verifier.parse(vkey))
        assert signed.size == 0 and signed.root == merkle.EMPTY_ROOT
        assert httpx.get(f"{env.url}/v1/ledger/tile/0/000.p/1").status_code == 404
