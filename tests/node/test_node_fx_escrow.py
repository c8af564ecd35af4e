"""PvP FX settlement and escrow (node.ledger.rules.fx, node.ledger.rules.escrow), kind by kind.

The world is tests/node/support.py's: alice (US, tier 1: USD/EUR per_tx 1_000, daily 2_500)
holds USD 10_000 and EUR 500; bob (DE, tier 2) USD and EUR 500_000; carol has no KYC. Every
test also checks the conservation the locks promise: for each asset, the balances plus what
open offers and escrows hold equal the supply.
"""
from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import node.ledger.rules as R
from node.ledger import errors as E
from node.ledger.codec import sha256
from node.ledger.execution import next_timed_work
from node.ledger.genesis import Genesis
from node.ledger.state import Overlay, State
from node.ledger.types import (
    AssetUpdate,
    EscrowCancel,
    EscrowCreate,
    EscrowRelease,
    Freeze,
    FxAccept,
    FxCancel,
    FxOffer,
    Transfer,
    sign_tx,
)

from .support import DAY, HOUR, T0, Chain, Keys, Ledger

NOW = T0 + HOUR // 2
ASSETS = ("USD", "EUR", "GBP")


def conserved(view) -> None:
    """Balances + held == supply for every asset, and what is held is what the open offers and
    escrows hold."""
    accounts = view.accounts if isinstance(view, State) else (
        dict(view.parent.accounts.items()) | view.accounts)
    for code in ASSETS:
        balances = sum(a.balance(code) for a in accounts.values())
        assert all(a.balance(code) >= 0 for a in accounts.values())
        locked = (sum(o.locked for _, o in view.offers() if o.give_asset == code)
                  + sum(e.amount for _, e in view.escrows()
                        if e.asset == code and e.status == "open"))
        assert view.held(code) == locked
        assert balances + locked == view.supply(code), code


def usd_for_eur(keys: Keys, **kw) -> FxOffer:
    """alice gives 1_000 USD for 800 EUR (1 EUR = 1.25 USD)."""
    terms = dict(give_asset="USD", give_amount=1_000, want_asset="EUR", want_amount=800,
                 expires_at=T0 + DAY, partial=True, counterparty=b"")
    terms.update(kw)
    return FxOffer(**terms)  # type: ignore[arg-type]


def test_an_offer_locks_the_give_leg_and_a_fill_settles_both_legs(ledger: Ledger, keys: Keys):
    offer = ledger.ok(keys.alice, usd_for_eur(keys))
    assert ledger.balance(keys.alice, "USD") == 9_000 and ledger.view.held("USD") == 1_000
    conserved(ledger.view)
    ledger.ok(keys.bob, FxAccept(offer.hash, 800))
    assert ledger.balance(keys.alice, "EUR") == 1_300 and ledger.balance(keys.bob, "USD") == 501_000
    assert ledger.balance(keys.bob, "EUR") == 499_200
    o = ledger.view.offer(offer.hash)
    assert (o.status, o.given, o.paid, o.locked) == ("filled", 1_000, 800, 0)
    conserved(ledger.view)
    ledger.reject(E.OfferClosed, keys.bob, FxAccept(offer.hash, 1))


def test_a_partial_fill_rounds_down_for_the_taker_and_the_remainder_returns_when_filled(
        ledger: Ledger, keys: Keys):
    """1_000 USD for 3 EUR: paying 1 EUR buys floor(1_000 / 3) = 333 USD, never 334; after three
    fills the 1 USD left by rounding goes back to the maker."""
    offer = ledger.ok(keys.alice, usd_for_eur(keys, want_amount=3))
    ledger.reject(E.SelfTransfer, keys.alice, FxAccept(offer.hash, 1))
    for _ in range(3):
        ledger.ok(keys.bob, FxAccept(offer.hash, 1))
    assert ledger.balance(keys.bob, "USD") == 500_000 + 999
    assert ledger.balance(keys.alice, "USD") == 9_001 and ledger.view.held("USD") == 0
    conserved(ledger.view)


def test_an_all_or_nothing_offer_to_one_counterparty(ledger: Ledger, keys: Keys):
    offer = ledger.ok(keys.alice, usd_for_eur(keys, partial=False,
                                              counterparty=keys.bob.address))
    ledger.reject(E.PartialNotAllowed, keys.bob, FxAccept(offer.hash, 400))
    ledger.reject(E.NotCounterparty, keys.erin, FxAccept(offer.hash, 800))
    ledger.ok(keys.bob, FxAccept(offer.hash, 800))


def test_each_leg_is_checked_as_a_payment_and_a_refusal_moves_neither(ledger: Ledger,
                                                                      keys: Keys):
    """The want leg breaks a rule (carol has no KYC; alice's tier limits EUR to 1_000 a tx):
    neither leg moves and the lock stays."""
    offer = ledger.ok(keys.bob, FxOffer("EUR", 2_000, "USD", 2_000, T0 + DAY, True, b""))
    ledger.reject(E.KycMissing, keys.carol, FxAccept(offer.hash, 100))
    ledger.reject(E.LimitExceeded, keys.alice, FxAccept(offer.hash, 1_001))  # alice pays USD
    ledger.ok(keys.regulator, Freeze(keys.bob.address))
    ledger.reject(E.Frozen, keys.alice, FxAccept(offer.hash, 500))  # the maker, at settlement
    assert ledger.view.held("EUR") == 2_000
    conserved(ledger.view)


def test_an_offer_is_refused_without_funds_or_on_one_asset(ledger: Ledger, keys: Keys):
    ledger.reject(E.InsufficientFunds, keys.alice, usd_for_eur(keys, give_amount=10_001))
    ledger.reject(E.BadOffer, keys.alice, usd_for_eur(keys, want_asset="USD"))
    ledger.reject(E.BadOffer, keys.alice, usd_for_eur(keys, expires_at=NOW))
    ledger.reject(E.UnknownAsset, keys.alice, usd_for_eur(keys, want_asset="JPY"))
    ledger.reject(E.KycMissing, keys.carol, usd_for_eur(keys))


def test_the_maker_cancels_and_gets_the_lock_back(ledger: Ledger, keys: Keys):
    offer = ledger.ok(keys.alice, usd_for_eur(keys))
    ledger.ok(keys.bob, FxAccept(offer.hash, 400))  # half: 500 USD paid out
    ledger.reject(E.Unauthorized, keys.bob, FxCancel(offer.hash))
    ledger.ok(keys.alice, FxCancel(offer.hash))
    assert ledger.balance(keys.alice, "USD") == 9_500 and ledger.view.held("USD") == 0
    ledger.reject(E.OfferClosed, keys.alice, FxCancel(offer.hash))
    ledger.reject(E.UnknownOffer, keys.alice, FxCancel(sha256(b"no such offer")))
    conserved(ledger.view)


def test_expiry_releases_locks_at_block_time_at_most_the_cap_per_block(genesis: Genesis,
                                                                       keys: Keys):
    """MAX_EXPIRIES_PER_BLOCK + 2 offers expire at once: the first block past their expiry
    releases the cap's worth, the next block the rest; an expired one cannot be taken before its
    sweep."""
    chain = Chain(genesis, keys.bank_a)
    n = R.MAX_EXPIRIES_PER_BLOCK + 2
    offers = [_offer_tx(genesis, keys, i) for i in range(n)]
    chain.run(offers, T0 + HOUR)
    assert chain.state.held("USD") == n
    last = max(o.hash for o in offers)  # ties in time go by id: the sweep reaches it last
    expiry = T0 + 90 * 60_000
    assert next_timed_work(chain.state) == expiry  # what asks an idle leader for a block
    late = chain.run([_sign(genesis, keys.bob, 0, FxAccept(last, 1))], T0 + 2 * HOUR)
    assert late.receipts[0].code == "OFFER_EXPIRED"
    assert chain.state.held("USD") == 2 and next_timed_work(chain.state) == expiry
    chain.run([], T0 + 2 * HOUR + 1)  # an empty block does the rest
    assert chain.state.held("USD") == 0 and next_timed_work(chain.state) is None
    assert {o.status for _, o in chain.state.offers()} == {"expired"}
    conserved(chain.state)


def _sign(genesis: Genesis, key, nonce: int, payload):
    return sign_tx(key, genesis.chain_id, nonce, payload)


def _offer_tx(genesis: Genesis, keys: Keys, i: int):
    """bank_a (exempt) offers 1 USD for 1 EUR, expiring at T0 + 90 min."""
    return _sign(genesis, keys.bank_a, i, FxOffer("USD", 1, "EUR", 1, T0 + 90 * 60_000, True,
                                                  b""))


# ---- escrow -------------------------------------------------------------------------------

SECRET = b"delivery note 77"


def eur_escrow(keys: Keys, **kw) -> EscrowCreate:
    """bob locks 500 EUR for alice: releasable from NOW + 1 h, cancellable from NOW + 2 h."""
    terms = dict(asset="EUR", to=keys.alice.address, amount=500, release_after=NOW + HOUR,
                 cancel_after=NOW + 2 * HOUR, condition=b"")
    terms.update(kw)
    return EscrowCreate(**terms)  # type: ignore[arg-type]


def test_an_escrow_is_released_by_its_payer_in_its_window(ledger: Ledger, keys: Keys):
    e = ledger.ok(keys.bob, eur_escrow(keys))
    assert ledger.balance(keys.bob, "EUR") == 499_500 and ledger.view.held("EUR") == 500
    conserved(ledger.view)
    ledger.reject(E.EscrowNotYet, keys.bob, EscrowRelease(e.hash, b""))
    ledger.reject(E.Unauthorized, keys.alice, EscrowRelease(e.hash, b""), at=NOW + HOUR)
    ledger.ok(keys.bob, EscrowRelease(e.hash, b""), at=NOW + HOUR)
    assert ledger.balance(keys.alice, "EUR") == 1_000 and ledger.view.held("EUR") == 0
    ledger.reject(E.EscrowClosed, keys.bob, EscrowRelease(e.hash, b""), at=NOW + HOUR)
    conserved(ledger.view)


def test_a_conditional_escrow_is_released_by_anyone_with_the_secret(ledger: Ledger, keys: Keys):
    e = ledger.ok(keys.bob, eur_escrow(keys, condition=hashlib.sha256(SECRET).digest()))
    ledger.reject(E.EscrowCondition, keys.alice, EscrowRelease(e.hash, b"guess"), at=NOW + HOUR)
    ledger.ok(keys.alice, EscrowRelease(e.hash, SECRET), at=NOW + HOUR)
    assert ledger.balance(keys.alice, "EUR") == 1_000


def test_a_release_rechecks_standing_and_after_its_window_only_cancel_works(ledger: Ledger,
                                                                            keys: Keys):
    e = ledger.ok(keys.bob, eur_escrow(keys))
    ledger.ok(keys.regulator, Freeze(keys.alice.address))
    ledger.reject(E.Frozen, keys.bob, EscrowRelease(e.hash, b""), at=NOW + HOUR)
    ledger.reject(E.EscrowNotYet, keys.bob, EscrowCancel(e.hash), at=NOW + HOUR)
    ledger.reject(E.EscrowExpired, keys.bob, EscrowRelease(e.hash, b""), at=NOW + 2 * HOUR)
    ledger.ok(keys.bob, EscrowCancel(e.hash), at=NOW + 2 * HOUR)
    assert ledger.balance(keys.bob, "EUR") == 500_000 and ledger.view.held("EUR") == 0
    conserved(ledger.view)


def test_an_escrow_is_a_payment_checked_at_creation(ledger: Ledger, keys: Keys):
    ledger.reject(E.BadEscrow, keys.bob, eur_escrow(keys, cancel_after=NOW + HOUR))
    ledger.reject(E.LimitExceeded, keys.alice, eur_escrow(keys, to=keys.bob.address,
                                                          amount=1_001))
    ledger.reject(E.KycMissing, keys.bob, eur_escrow(keys, to=keys.carol.address))
    ledger.reject(E.InsufficientFunds, keys.bank_b, eur_escrow(keys, amount=1_000_001))


# ---- properties ---------------------------------------------------------------------------

def _action(keys: Keys):
    who = st.sampled_from([keys.alice, keys.bob, keys.bob, keys.carol, keys.erin, keys.bank_a,
                           keys.bank_b])
    code = st.sampled_from(ASSETS)
    amount = st.integers(1, 3_000)
    return st.one_of(
        st.tuples(st.just("offer"), who, code, amount, code, amount, st.booleans()),
        st.tuples(st.just("accept"), who, st.integers(0, 9), st.integers(1, 300)),
        st.tuples(st.just("cancel"), who, st.integers(0, 9)),
        st.tuples(st.just("escrow"), who, who, code, amount, st.booleans()),
        st.tuples(st.just("release"), who, st.integers(0, 9), st.booleans()),
        st.tuples(st.just("cancel_escrow"), who, st.integers(0, 9)),
        st.tuples(st.just("pay"), who, who, code, amount),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fx_and_escrow_conserve_supply_and_admission_agrees_with_execution(genesis: Genesis,
                                                                          keys: Keys, data):
    """Random offers, fills, cancels, escrows, releases and payments, over blocks an hour apart
    (so offers expire and escrows open): every asset's supply equals balances plus locks after
    each block, no balance goes negative, and a tx the pool admitted on the committed state runs
    ok in the block (admission and execution agree)."""
    chain = Chain(genesis, keys.bank_a)  # the fixtures are read-only: a fresh chain each example
    nonces: dict[bytes, int] = {}
    offers: list[bytes] = []
    escrows: list[bytes] = []
    t = T0
    for _ in range(data.draw(st.integers(1, 5))):
        t += HOUR
        pool = Overlay(chain.state)
        R.apply_block_start(pool, R.Context(t))  # as the block will, before its txs
        admitted = []
        for act in data.draw(st.lists(_action(keys), max_size=8)):
            payload, key = _payload(act, keys, offers, escrows, t)
            if payload is None:
                continue
            tx = _sign(genesis, key, nonces.get(key.address, 0), payload)
            try:
                R.admit(pool, tx, R.Context(t), chain.sigs)
            except E.LedgerError:
                continue
            nonces[key.address] = nonces.get(key.address, 0) + 1
            admitted.append(tx)
            (offers if payload.KIND == "fx_offer" else
             escrows if payload.KIND == "escrow_create" else []).append(tx.hash)
        result = chain.run(admitted, t)
        assert [r.code for r in result.receipts] == [""] * len(admitted)
        conserved(chain.state)


def _payload(act, keys: Keys, offers: list[bytes], escrows: list[bytes], t: int):
    kind = act[0]
    if kind == "offer":
        _, who, give, ga, want, wa, partial = act
        return FxOffer(give, ga, want, wa, t + HOUR + 30 * 60_000 * (ga % 3), partial, b""), who
    if kind == "accept" and offers:
        _, who, i, amount = act
        return FxAccept(offers[i % len(offers)], amount), who
    if kind == "cancel" and offers:
        _, who, i = act
        return FxCancel(offers[i % len(offers)]), who
    if kind == "escrow":
        _, who, to, code, amount, cond = act
        return EscrowCreate(code, to.address, amount, t + HOUR, t + 2 * HOUR,
                            hashlib.sha256(SECRET).digest() if cond else b""), who
    if kind == "release" and escrows:
        _, who, i, secret = act
        return EscrowRelease(escrows[i % len(escrows)], SECRET if secret else b""), who
    if kind == "cancel_escrow" and escrows:
        _, who, i = act
        return EscrowCancel(escrows[i % len(escrows)]), who
    if kind == "pay":
        _, who, to, code, amount = act
        return Transfer(code, to.address, amount), who
    return None, None


def test_settlements_are_reported_to_the_supervisor_as_transfers_are(ledger: Ledger, keys: Keys):
    """Attack: a customer moves a sum at or above USD's report threshold across a border by an
    FX settlement or an escrow instead of a transfer, so the supervisor's feed of large
    transfers never hears of it. Each FX leg and each escrow (when made, as its payment is
    checked then) is judged as a transfer is."""
    ledger.ok(keys.regulator, AssetUpdate("USD", False, 0, 500))
    rule = ("bank_b", "bank_a", sha256(b"ivms101 record"))  # bob's institution, alice's
    offer = ledger.ok(keys.bob, FxOffer("USD", 600, "EUR", 400, T0 + DAY, True, b""))
    take = ledger.ok(keys.alice, FxAccept(offer.hash, 400, rule))
    escrow = ledger.ok(keys.bob, EscrowCreate("USD", keys.alice.address, 700, NOW, NOW + DAY,
                                              b"", rule))
    reports = [(r.kind, r.asset, r.sender, r.recipient, r.amount, r.tx_hash)
               for r in ledger.view.reports()]
    assert reports == [  # the EUR leg: EUR has no threshold
        ("large", "USD", keys.bob.address, keys.alice.address, 600, take.hash),
        ("large", "USD", keys.bob.address, keys.alice.address, 700, escrow.hash)]
