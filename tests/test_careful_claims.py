"""Words matter: the diagram labels, the Japanese catalogue and the Japanese documents make no
absolute security claim (the same list as the project's before-stop check, and its Japanese
equivalents; the file's name keeps that check from flagging the lists themselves)."""

from __future__ import annotations

from babel.messages.pofile import read_po

from conftest import REPO_ROOT
from elsewhere.diagram.labels import ENGLISH

BANNED = ("secure", "tamper-proof", "unhackable", "quantum-proof", "quantum-safe", "zero-trust")
# 改ざん検知 (tamper-evident) and 耐量子 (quantum-resistant) say what holds; these do not.
BANNED_JA = (
    "安全な",
    "安全です",
    "安全性を保証",
    "完全に安全",
    "完全な保護",
    "絶対に",
    "改ざん不可能",
    "改竄不可能",
    "改ざんできない",
    "量子耐性が保証",
    "量子安全",
    "ハッキング不可能",
    "ゼロトラスト",
    "セキュアな",
)
# The option that turns verification off is named for what it is; its name is no claim.
FLAG = "--insecure-http"
PO = REPO_ROOT / "src" / "elsewhere" / "locale" / "ja" / "LC_MESSAGES" / "elsewhere.po"


def test_words_the_project_does_not_use_are_absent() -> None:
    for key, value in ENGLISH.items():
        for word in BANNED:
            assert word not in value.lower().replace(FLAG, ""), (key, word)


def _japanese_texts() -> list[tuple[str, str]]:
    with PO.open("rb") as source:
        texts = [(str(m.id), str(m.string)) for m in read_po(source, locale="ja") if m.id]
    paths = [REPO_ROOT / "README.ja.md", *sorted((REPO_ROOT / "docs" / "ja").rglob("*"))]
    for path in paths:
        if path.is_file() and path.suffix in (".md", ".svg"):
            texts.append((str(path), path.read_text(encoding="utf-8")))
    return texts


def test_no_absolute_claim_in_the_japanese_catalogue_or_documents() -> None:
    texts = _japanese_texts()
    assert len(texts) > 300  # the catalogue and the documents were read
    for where, text in texts:
        # An SVG writes the flag's hyphens as character references.
        lowered = text.lower().replace("&#45;", "-").replace(FLAG, "")
        for word in BANNED_JA + BANNED:
            assert word not in lowered, (where, word)


def test_the_check_finds_an_absolute_claim() -> None:
    """The check can fail: a translation that claims absolute protection is caught."""
    assert any(word in "このキープは完全に安全です" for word in BANNED_JA)
