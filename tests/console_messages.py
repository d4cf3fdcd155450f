"""The console's messages as `make messages` extracts them (babel.cfg's methods for the console's
templates, script and Python), and their Japanese from the catalogue: shared by the catalogue
test and the browser test's "no untranslated English on the page" check."""

from __future__ import annotations

import functools
import re
from typing import Any

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from conftest import REPO_ROOT

CONSOLE = REPO_ROOT / "src" / "elsewhere" / "control" / "http" / "console"
PO = REPO_ROOT / "src" / "elsewhere" / "locale" / "ja" / "LC_MESSAGES" / "elsewhere.po"
# pybabel's keywords and -k N_ (the Makefile): a {% trans %} block is a gettext/ngettext call.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
JINJA_OPTIONS = {
    "extensions": "jinja2.ext.i18n",
    "trimmed": "true",
    "trim_blocks": "true",
    "lstrip_blocks": "true",
}
# What babel.cfg says for the console (the test checks the file says it).
METHODS: list[tuple[str, Any]] = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("static/**.js", "javascript"),
    ("**.py", "python"),
]
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+\}")
_TAG = re.compile(r"<[^>]+>")


@functools.cache
def console_msgids() -> frozenset[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        CONSOLE,
        METHODS,
        options_map={"templates/**.html": JINJA_OPTIONS},
        keywords=KEYWORDS,
    ):
        found.update([message] if isinstance(message, str) else message)
    return frozenset(found)


@functools.cache
def japanese() -> dict[str, str]:
    """msgid -> msgstr (each plural form of a message under its own id)."""
    with PO.open("rb") as source:
        catalog = read_po(source, locale="ja")
    out: dict[str, str] = {}
    for m in catalog:
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        for i, msgid in enumerate(ids):
            out[str(msgid)] = str(strings[min(i, len(strings) - 1)] if strings else "")
    return out


def fragments(msgid: str) -> list[str]:
    """The English a reader would see of a message: its text between markup and placeholders,
    the parts with a word of two letters or more."""
    pieces = _PLACEHOLDER.sub("\n", _TAG.sub("\n", msgid)).split("\n")
    stripped = (p.strip(" \t.,;:#…—") for p in pieces)
    return [p for p in stripped if re.search(r"[A-Za-z]{2}", p)]


def untranslated_on_page(text: str) -> list[str]:
    """Console messages whose English shows in a Japanese page's text (one whose Japanese is
    the same English, an identifier, is not counted)."""
    ja = japanese()
    found = []
    for msgid in sorted(console_msgids()):
        if ja.get(msgid, "") == msgid:
            continue
        for piece in fragments(msgid):
            if re.search(rf"(?<![\w-]){re.escape(piece)}(?![\w-])", text):
                found.append(piece)
    return found
