"""Asset controls: a per-asset freeze (regulator or issuer) and the issuer's clawback."""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.types import AssetFreeze, AssetUnfreeze, Clawback, Freeze, Issue, Redeem, Transfer


def test_frozen_asset_cannot_be_transferred_issued_or_redeemed(ledger, keys):
    ledger.ok(keys.regulator, AssetFreeze("USD"))
    ledger.reject(E.AssetFrozen, keys.alice, Transfer("USD", keys.bob.address, 10))
    ledger.reject(E.AssetFrozen, keys.bank_a, Issue("USD", keys.alice.address, 10))
    ledger.reject(E.AssetFrozen, keys.bank_a, Redeem("USD", 10))
    ledger.ok(keys.alice, Transfer("EUR", keys.bob.address, 10))  # other assets move on


def test_unfreezing_an_asset_lets_it_move_again(ledger, keys):
    ledger.ok(keys.bank_a, AssetFreeze("USD"))  # its issuer may freeze it too
    ledger.ok(keys.bank_a, AssetUnfreeze("USD"))
    ledger.ok(keys.alice, Transfer("USD", keys.bob.address, 10))
    assert ledger.balance(keys.bob, "USD") == 500_010


def test_only_the_regulator_or_the_assets_issuer_may_freeze_it(ledger, keys):
    ledger.reject(E.Unauthorized, keys.bank_b, AssetFreeze("USD"))  # an issuer, of other assets
    ledger.reject(E.NotLicensed, keys.alice, AssetFreeze("USD"))
    ledger.reject(E.UnknownAsset, keys.regulator, AssetFreeze("XYZ"))
    assert not ledger.view.asset_frozen("USD")


def test_issuer_claws_back_a_clawbackable_asset_into_its_own_account(ledger, keys):
    before = ledger.balance(keys.bank_a, "USD")
    ledger.ok(keys.bank_a, Clawback("USD", keys.alice.address, 400, "court order 17"))
    assert ledger.balance(keys.alice, "USD") == 9_600
    assert ledger.balance(keys.bank_a, "USD") == before + 400


def test_clawback_works_on_frozen_accounts_and_frozen_assets(ledger, keys):
    ledger.ok(keys.regulator, Freeze(keys.alice.address))
    ledger.ok(keys.regulator, AssetFreeze("USD"))
    ledger.ok(keys.bank_a, Clawback("USD", keys.alice.address, 10_000, "sanctions"))
    assert ledger.balance(keys.alice, "USD") == 0


def test_clawback_of_an_asset_not_created_clawbackable_is_refused(ledger, keys):
    ledger.reject(E.ClawbackDisabled, keys.bank_b,
                  Clawback("EUR", keys.alice.address, 1, "why not"))


def test_clawback_rules(ledger, keys):
    ledger.reject(E.Unauthorized, keys.bank_b, Clawback("USD", keys.alice.address, 1, "not mine"))
    ledger.reject(E.NotLicensed, keys.regulator, Clawback("USD", keys.alice.address, 1, "reg"))
    ledger.reject(E.InsufficientFunds, keys.bank_a,
                  Clawback("USD", keys.alice.address, 10_001, "x"))
    ledger.reject(E.SelfTransfer, keys.bank_a, Clawback("USD", keys.bank_a.address, 1, "x"))


def test_asset_freeze_is_part_of_the_state_hash_and_survives_a_reload(chain, keys, signer, genesis):
    from node.ledger.state import State
    result = chain.run([signer(keys.regulator, AssetFreeze("USD"), 0)], chain.tip.timestamp)
    assert [k for k, _ in result.changes] == [b"a" + keys.regulator.address, b"fUSD"]
    reloaded = State(genesis)
    for k, v in chain.state.records():
        reloaded.load_record(k, v)
    assert reloaded.asset_frozen("USD") and reloaded.records() == chain.state.records()
