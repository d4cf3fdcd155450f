"""Words matter: the diagram labels make no absolute security claim (the same list as the
project's before-stop check; the file's name keeps that check from flagging the list itself)."""

from __future__ import annotations

from elsewhere.diagram.labels import ENGLISH


def test_words_the_project_does_not_use_are_absent() -> None:
    banned = ("secure", "tamper-proof", "unhackable", "quantum-proof", "quantum-safe", "zero-trust")
    for key, value in ENGLISH.items():
        for word in banned:
            assert word not in value.lower(), (key, word)
