"""The words of the console's script (static/ledger.js) in the reader's language.

The script marks its messages `_("…{name}…")`; `make messages` extracts them (babel.cfg,
Babel's JavaScript extractor) into the same catalogue. A page that runs the script carries
their translations as a JSON data block (not a script: the CSP runs none inline), and the
script falls back to its English text for any it lacks.
"""

from __future__ import annotations

import functools

from babel.messages.extract import extract

from elsewhere.control.http.console.render import STATIC
from elsewhere.i18n import ENGLISH, _, current

SCRIPT = STATIC / "ledger.js"


@functools.cache
def script_msgids() -> tuple[str, ...]:
    """Every message the script marks, as `make messages` extracts it."""
    with SCRIPT.open("rb") as source:
        found = extract("javascript", source, keywords={"_": None})
        return tuple(sorted({str(message) for _line, message, _c, _ctx in found}))


def script_messages() -> dict[str, str]:
    """msgid -> translation for the current language (nothing to send for English)."""
    if current() == ENGLISH:
        return {}
    return {msgid: _(msgid) for msgid in script_msgids()}
