"""The Japanese catalogue is complete and consistent: every message the source marks has a
translation (a new, untranslated string fails here: run `make messages` and translate it), the
placeholders of each translation are the English ones, the glossary's terms are used. (The
careful-words rule in Japanese: tests/test_careful_claims.py.)"""

from __future__ import annotations

import re
import string
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from conftest import REPO_ROOT
from elsewhere.i18n import extract_cli_help

LOCALE = REPO_ROOT / "src" / "elsewhere" / "locale"
PO = LOCALE / "ja" / "LC_MESSAGES" / "elsewhere.po"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}

# English term -> the Japanese one every translation of a message with it uses (glossary).
GLOSSARY = {
    "tamper-evident": "改ざん検知",
    "quantum-resistant": "耐量子",
    "attestation": "アテステーション",
    "attested": "アテステーション済み",
    "emulated": "エミュレー",
    "hardware protection": "ハードウェアによる保護",
    "inclusion proof": "包含証明",
}


def _catalog() -> Catalog:
    with PO.open("rb") as source:
        return read_po(source, locale="ja")


def _forms(value: object) -> tuple[str, ...]:
    """A message's id or string as its forms: one, or one per plural form."""
    return tuple(str(v) for v in value) if isinstance(value, (tuple, list)) else (str(value),)


def _fields(text: str) -> list[str]:
    return sorted(f for _t, f, _s, _c in string.Formatter().parse(text) if f is not None)


def test_every_message_the_source_marks_is_in_the_catalogue() -> None:
    # The method map of babel.cfg (what `make messages` runs): the command modules' help too.
    assert "cli_help = elsewhere.i18n:extract_cli_help" in (REPO_ROOT / "babel.cfg").read_text()
    methods: list[tuple[str, Any]] = [("cli/**.py", extract_cli_help), ("**.py", "python")]
    marked = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            REPO_ROOT / "src" / "elsewhere", methods, keywords=KEYWORDS
        )
    }
    assert "run a host agent: register, pull work, run keeps" in marked  # argparse help
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog() if m.id}
    singular = {m if isinstance(m, str) else m[0] for m in marked}
    missing = sorted(singular - ids)
    assert not missing, f"run `make messages` and translate in {PO}: {missing[:10]}"


def test_every_message_has_a_japanese_translation() -> None:
    untranslated = [
        m.id
        for m in _catalog()
        if m.id and (m.fuzzy or not all(_forms(m.string)))  # every plural form, too
    ]
    assert not untranslated, f"translate in {PO}: {untranslated[:10]}"


def test_placeholders_match_between_languages() -> None:
    catalog = _catalog()
    # Babel's own checkers (python-format %-placeholders, plural forms) find nothing wrong.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems, problems
    for m in catalog:
        if m.id:
            expected = {tuple(_fields(i)) for i in _forms(m.id)}
            for form in _forms(m.string):
                assert tuple(_fields(form)) in expected, (m.id, form)


def test_a_translation_with_a_wrong_placeholder_is_caught() -> None:
    """The placeholder check can fail: a translation that renames a field is found."""
    assert _fields("{rule}: {claim} は {found}") != _fields("{rule}: {claim} is {value}")


def test_glossary_terms_are_used_consistently() -> None:
    for m in _catalog():
        if not m.id or not isinstance(m.id, str):
            continue
        for english, japanese in GLOSSARY.items():
            if re.search(rf"(?<![\w.-]){re.escape(english)}(?![\w.-])", m.id, re.IGNORECASE):
                assert japanese in str(m.string), (m.id, japanese)


def test_the_glossary_names_every_term() -> None:
    glossary = (REPO_ROOT / "docs" / "ja" / "glossary.md").read_text(encoding="utf-8")
    for english, japanese in GLOSSARY.items():
        assert english in glossary.lower() and japanese in glossary, english
