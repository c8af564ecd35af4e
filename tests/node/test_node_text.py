"""Free text on chain (node.ledger.text): a memo or a clawback reason is printable text only.

The attack modelled: text that displays as something other than what it is. A bidirectional
override (U+202E) makes "invoice 0042 USD" render reversed in every explorer and statement that
shows the memo; zero-width characters hide text or make two memos look equal; control characters
(NUL, newline, escape) break logs and terminals; private-use characters render as anything a
font decides. Each is refused at decode with BAD_TEXT (a MALFORMED, HTTP 400), naming the
character's position and category, and changes nothing.
"""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.crypto import KeyPair
from node.ledger.text import REFUSED_CATEGORIES, printable_text
from node.ledger.types import MAX_MEMO_BYTES, Clawback, Transfer, decode_tx, sign_tx

KEY = KeyPair.from_seed(b"\x05" * 32)
CHAIN = sha256(b"text test chain")


def transfer_with(memo: str) -> bytes:
    return sign_tx(KEY, CHAIN, 0, Transfer("USD", KEY.address, 1, memo)).raw


def clawback_with(reason: str) -> bytes:
    return sign_tx(KEY, CHAIN, 0, Clawback("USD", KEY.address, 1, reason)).raw


REFUSED = {
    "right-to-left override": ("invoice \u202e2400 DSU", 8, "Cf"),
    "zero-width joiner": ("pay\u200dment", 3, "Cf"),
    "zero-width space": ("ref\u200b42", 3, "Cf"),
    "NUL": ("ref\x0042", 3, "Cc"),
    "newline": ("line one\nline two", 8, "Cc"),
    "escape": ("\x1b[31mred", 0, "Cc"),
    "private use": ("logo \ue000", 5, "Co"),
    "line separator": ("a\u2028b", 1, "Zl"),
    "paragraph separator": ("a\u2029b", 1, "Zp"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_memo_with_an_unprintable_character_is_bad_text(name):
    memo, position, category = REFUSED[name]
    with pytest.raises(E.BadText) as info:
        decode_tx(transfer_with(memo))
    err = info.value
    assert err.code == "BAD_TEXT" and isinstance(err, E.Malformed) and err.http_status == 400
    assert err.message.startswith(f"memo character {position} (U+")
    assert f"({category})" in err.message


@pytest.mark.parametrize("name", ["right-to-left override", "NUL", "private use"])
def test_a_clawback_reason_with_an_unprintable_character_is_bad_text(name):
    reason, position, category = REFUSED[name]
    with pytest.raises(E.BadText) as info:
        decode_tx(clawback_with(reason))
    assert info.value.message.startswith(f"reason character {position} ")


def test_a_lone_surrogate_cannot_even_be_encoded():
    """Cs is refused by the check too, though UTF-8 on the wire already cannot carry one."""
    with pytest.raises(E.BadText):
        printable_text("memo", "a\ud800")


@pytest.mark.parametrize("memo", ["Überweisung für März", "façade café naïve", "請求書 第42号",
                                  "Zahlung 42 € — Rechnung #7", "a\u00a0b (no-break space)",
                                  "e\u0301 (a combining accent)", "🙂 emoji", ""])
def test_ordinary_text_of_any_script_is_accepted(memo):
    assert decode_tx(transfer_with(memo)).payload.memo == memo
    assert decode_tx(clawback_with(memo or "x")).payload.reason == (memo or "x")


def test_the_byte_limit_still_holds():
    assert decode_tx(transfer_with("é" * (MAX_MEMO_BYTES // 2))).payload.memo
    with pytest.raises(E.Malformed) as info:
        decode_tx(transfer_with("é" * (MAX_MEMO_BYTES // 2) + "a"))
    assert type(info.value) is E.Malformed


# any text at all, with the refused categories drawn often
any_text = st.text(st.characters(codec="utf-8")
                   | st.characters(categories=["Cc", "Cf", "Co", "Zl", "Zp"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(memo=any_text)
def test_an_accepted_memo_holds_no_refused_character(memo):
    try:
        accepted = decode_tx(transfer_with(memo)).payload.memo
    except E.BadText:
        assert any(unicodedata.category(c) in REFUSED_CATEGORIES for c in memo)
        return
    assert accepted == memo
    assert not any(unicodedata.category(c) in REFUSED_CATEGORIES for c in accepted)
