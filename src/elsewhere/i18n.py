"""Messages in the reader's language: gettext catalogues (Babel) and one current language.

The language is a context variable, so concurrent API requests (each its own context) never
see each other's `Accept-Language`. The CLI sets it once: `--lang`, then `ELSEWHERE_LANG`, then
`LC_ALL` / `LC_MESSAGES` / `LANG`, then English.

Text is produced in English (ledger entries, stored reasons, isolation reports, error messages:
machine-readable and identical in every language) and translated where a person reads it:
`_()` for a literal message, `localize()` for English text produced elsewhere, which is matched
against the catalogue's `{placeholder}` templates and re-rendered with its values.

`.mo` files are compiled by `make` (pybabel compile) and not committed; when one is missing or
older than its `.po` (an editable checkout), it is compiled here, in memory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gettext
import io
import os
import re
import string
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

DOMAIN = "elsewhere"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
LANGUAGES = (ENGLISH, "ja")
# Babel's locale for each language: number, date and currency formats.
LOCALES = {ENGLISH: "en_US", "ja": "ja_JP"}
# The environment, in the order POSIX gives it (the first that is set decides).
ENVIRONMENT = ("ELSEWHERE_LANG", "LC_ALL", "LC_MESSAGES", "LANG")
# An Accept-Language header longer than this is not negotiated (English), not parsed.
ACCEPT_LANGUAGE_LIMIT = 512

_current: ContextVar[str] = ContextVar("elsewhere_language", default=ENGLISH)
_load_lock = threading.Lock()


def N_(message: str) -> str:
    """Marks English text that is produced now and translated later, where it is read."""
    return message


def language_of(tag: str) -> str | None:
    """`ja_JP.UTF-8`, `ja-JP`, `ja` -> "ja"; `C`, `POSIX` -> English; unsupported -> None."""
    base = re.split(r"[_.@-]", tag.strip(), maxsplit=1)[0].lower()
    if base in ("c", "posix"):
        return ENGLISH
    return base if base in LANGUAGES else None


def resolve(explicit: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The CLI's language: `--lang`, then the environment, then English.

    An unsupported `--lang` is refused (the user asked for it); an unsupported locale in the
    environment means English, as it does for every other program."""
    from elsewhere.errors import InputError  # errors.py marks its messages with N_ from here

    if explicit is not None:
        found = language_of(explicit)
        if found is None:
            raise InputError(
                "--lang", explicit, f"not a supported language ({', '.join(LANGUAGES)})"
            )
        return found
    for name in ENVIRONMENT:
        value = environ.get(name, "")
        if value:
            # LANGUAGE-style lists ("ja:en") are not POSIX locales; the first entry decides.
            return language_of(value.split(":")[0]) or ENGLISH
    return ENGLISH


def negotiate(header: str | None) -> str:
    """The language an `Accept-Language` header prefers among ours (RFC 9110 q-values)."""
    if not header or len(header) > ACCEPT_LANGUAGE_LIMIT:
        return ENGLISH
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _sep, params = item.partition(";")
        quality = 1.0
        match = re.fullmatch(r"\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*", params) if params else None
        if params and match is None:
            continue  # a malformed parameter: this range is ignored, not guessed
        if match is not None:
            quality = float(match.group(1))
        found = ENGLISH if tag.strip() == "*" else language_of(tag)
        if found is not None and quality > 0:
            ranked.append((-quality, position, found))
    return min(ranked)[2] if ranked else ENGLISH


def current() -> str:
    return _current.get()


def set_language(language: str) -> None:
    """Sets the language of this context (the CLI's process, or one request)."""
    if language not in LANGUAGES:
        from elsewhere.errors import InputError

        raise InputError("language", language, f"not one of {', '.join(LANGUAGES)}")
    _current.set(language)


@contextlib.contextmanager
def using(language: str) -> Iterator[None]:
    """The language for a block only (a request, a test), restored afterwards."""
    if language not in LANGUAGES:
        from elsewhere.errors import InputError

        raise InputError("language", language, f"not one of {', '.join(LANGUAGES)}")
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def _compiled(language: str) -> bytes | None:
    """The `.mo` bytes: the compiled file, or the `.po` compiled now when it is newer."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if not po.is_file():
        return mo.read_bytes() if mo.is_file() else None
    if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        return mo.read_bytes()
    from babel.messages.mofile import write_mo  # only an editable checkout compiles here
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    if language == ENGLISH:
        return gettext.NullTranslations()
    with _load_lock:
        data = _compiled(language)
    if data is None:
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(data))


def _(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


# Produced English text, translated by its template.


_DEPTH = 3
# A worded template applies only to text whose fixed part it is: its literal text at least
# this share of the text. Below it, the text stays English (the safe way to be wrong).
_COVERAGE = 0.2


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    translated: str
    literal: int  # how much fixed text it has: the most specific template is tried first
    worded: bool  # its fixed text has a word; "{a}, {b}" has none and would split any list


def _template(msgid: str, msgstr: str) -> _Template | None:
    regex, names, literal, worded = [], set(), 0, False
    try:
        parsed = list(string.Formatter().parse(msgid))
    except ValueError:
        return None
    for text, field, _spec, _conversion in parsed:
        regex.append(re.escape(text))
        literal += len(text)
        worded = worded or any(c.isalpha() for c in text)
        if field is None:
            continue
        if not field.isidentifier():
            return None
        regex.append(f"(?P={field})" if field in names else f"(?P<{field}>.+?)")
        names.add(field)
    if not names:
        return None
    return _Template(re.compile("".join(regex), re.DOTALL), msgstr, literal, worded)


@functools.cache
def _templates(language: str) -> tuple[_Template, ...]:
    catalog: dict[object, str] = getattr(translations(language), "_catalog", {})
    found = [
        t
        for msgid, msgstr in catalog.items()
        if isinstance(msgid, str) and msgid and "{" in msgid
        if (t := _template(msgid, msgstr)) is not None
    ]
    return tuple(sorted(found, key=lambda t: -t.literal))


def localize(text: str, depth: int = _DEPTH) -> str:
    """English `text` produced from a catalogued message (literal or template), in the current
    language; text that matches no message is returned as it is (a name, a value, a digest).

    The values a template captures are localized in turn, `depth` levels down; below the top,
    only templates with a word in them apply (a value "a, b" is a list, not "{x}, {y}"), and a
    worded template only where its fixed words are a fair share of the text (_COVERAGE)."""
    language = current()
    if language == ENGLISH or not text:
        return text
    exact = translations(language).gettext(text)
    if exact != text:
        return exact
    if depth == 0:
        return text
    for template in _templates(language):
        if not template.worded and depth < _DEPTH:
            continue
        if template.worded and template.literal < _COVERAGE * len(text):
            continue  # "{a} per {b}" would match any sentence with "per" in it: not this one
        match = template.pattern.fullmatch(text)
        if match is not None:
            values = {k: localize(v, depth - 1) for k, v in match.groupdict().items()}
            try:
                return template.translated.format(**values)
            except (KeyError, IndexError, ValueError):
                return text  # a broken translation must not hide the English
    return text


# The command line's help: argparse's `help=`, `description=` and `epilog=` literals are messages
# without a marker (the command modules stay plain argparse). `extract_cli_help` finds them for
# pybabel (babel.cfg); elsewhere.cli's help formatter translates them when help is printed.

HELP_KEYWORDS = frozenset({"help", "description", "epilog"})


def extract_cli_help(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[Any]:
    """A Babel extraction method for the command modules: their marked messages (Babel's
    Python extractor) and each literal help, as (line, funcname, message, comments)."""
    import ast

    from babel.messages.extract import extract_python

    source = fileobj.read()
    yield from extract_python(io.BytesIO(source), keywords, comment_tags, options)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                value = keyword.value
                text = value.value if isinstance(value, ast.Constant) else None
                if keyword.arg in HELP_KEYWORDS and isinstance(text, str) and text:
                    yield value.lineno, "", text, ["argparse " + keyword.arg]


# Numbers, money and dates in the reader's locale (Babel's CLDR data).


def number(value: float | Decimal, digits: int = 0) -> str:
    from babel.numbers import format_decimal  # imported when used: CLI start-up stays quick

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=LOCALES[current()])


def money(amount: float | Decimal | str, currency: str) -> str:
    """English keeps the project's form (`5,000.00 USD`); other locales use CLDR's."""
    from babel.numbers import format_currency

    value = Decimal(str(amount))
    if current() == ENGLISH:
        return f"{number(value, 2)} {currency}"
    return format_currency(value, currency, locale=LOCALES[current()])


def timestamp(iso: str) -> str:
    """An ISO 8601 time from the API for a reader: as it is in English, CLDR's medium form
    (UTC) in other locales; text that is not a time is left as it is."""
    if current() == ENGLISH:
        return iso
    from babel.dates import format_datetime

    try:
        moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return format_datetime(utc, format="medium", tzinfo=dt.UTC, locale=LOCALES[current()]) + " UTC"
