"""Free text on chain (a transfer's memo, a clawback's reason): printable characters only.

Text on a ledger is shown to people for as long as the chain lives, so it must read as what it
is: no control characters (Cc: NUL, newline, escape), no format characters (Cf: the bidirectional
overrides such as U+202E that reorder what a screen shows, zero-width joiners and spaces that hide
text), no private-use (Co) or surrogate (Cs) code points, and no line or paragraph separators
(Zl, Zp). Letters of every script, accents, marks, punctuation, symbols and spaces are fine.

The fast path is str.isprintable(): it is false for every refused category (and also for
non-ASCII spaces, Zs, and unassigned code points, Cn, which are accepted), so only text it
rejects is looked at character by character.
"""
from __future__ import annotations

import unicodedata

from node.ledger.errors import BadText

REFUSED_CATEGORIES: dict[str, str] = {
    "Cc": "a control character",
    "Cf": "a format character (bidirectional or zero-width)",
    "Co": "a private-use character",
    "Cs": "a surrogate",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def printable_text(name: str, text: str) -> str:
    """text, if it holds no character of REFUSED_CATEGORIES; else BadText naming the first."""
    if text.isprintable():
        return text
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES:
            raise BadText(f"{name} character {position} (U+{ord(char):04X}) is "
                          f"{REFUSED_CATEGORIES[category]} ({category}): only printable text "
                          "is allowed")
    return text
