"""The Japanese diagrams the repository carries (README.ja.md's block, docs/ja/architecture/)
are what the model draws now with the Japanese catalogue, and name a CJK font family."""

from __future__ import annotations

from conftest import REPO_ROOT
from elsewhere import i18n
from elsewhere.diagram.labels import ENGLISH, translated
from elsewhere.diagram.publish import BEGIN, END, landing_block, stale
from test_diagram_publish import require_dot

README_JA = REPO_ROOT / "README.ja.md"
DOCS_JA = REPO_ROOT / "docs" / "ja" / "architecture"


def _japanese() -> dict[str, str]:
    with i18n.using("ja"):
        return translated()


def test_every_label_has_a_japanese_word() -> None:
    words = _japanese()
    assert words.keys() == ENGLISH.keys()
    # A part's name (a package, a product) may stay as it is; every other label is translated
    # but for these protocol and field names.
    same = {
        k
        for k, v in words.items()
        if v == ENGLISH[k] and not (k.startswith("component.") and not k.endswith(".role"))
    }
    assert same == {"channel.http", "channel.sql", "flow.host_attest"}
    assert words["svg.font"] == "Noto Sans CJK JP" and words["svg.lang"] == "ja"


def test_the_japanese_readme_block_is_the_models_output() -> None:
    text = README_JA.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == landing_block("docs/ja/architecture", _japanese()), (
        "run `make diagrams`"
    )


def test_the_japanese_svgs_are_current_and_name_a_cjk_font() -> None:
    require_dot()
    assert stale(README_JA, DOCS_JA, _japanese()) == []
    svg = (DOCS_JA / "containers-security.svg").read_text(encoding="utf-8")
    assert 'font-family="Noto Sans CJK JP' in svg and 'xml:lang="ja"' in svg
    assert "信頼しない" in svg
