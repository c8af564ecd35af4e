"""The ledger rules, in one place: the mempool admits with them, block execution applies them.

Each `check_*` function enforces one rule and raises the typed error that carries its reason
code. Each `apply_*` function runs all of its checks first and only then writes, so a rejected
transaction never leaves a partial change behind.
"""
from __future__ import annotations

from dataclasses import dataclass

from node.ledger import errors as E
from node.ledger.crypto import verify
from node.ledger.genesis import Genesis, Institution, Tier
from node.ledger.governance import (REGULATOR, apply_governance_approve, apply_governance_propose,
                         change_license, check_institution, check_keeps_a_validator,
                         check_policy)
from node.ledger.state import Account, Attestation, StateView
from node.ledger.types import (MAX_AMOUNT, AssetFreeze, AssetUnfreeze, Clawback, Freeze, Issue, KycAttest,
                    KycRevoke, LicenseGrant, LicenseRevoke, Redeem, Transaction, Transfer,
                    Unfreeze)


@dataclass(frozen=True)
class Context:
    """What a rule may know besides state: the block's time. Never the local clock."""
    timestamp: int  # unix ms of the block (or, for admission, the pool's notion of now)


class SignatureCache:
    """Signature verdicts by tx hash, so each signature is verified at most once per node.

    A verdict depends only on the transaction's bytes, so admission's verdict is reused when the
    block executes. Bounded; oldest entries are evicted first.
    """

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._ok: dict[bytes, None] = {}
        self.verified = 0  # signatures actually checked (for metrics and tests)

    def check(self, tx: Transaction) -> bool:
        if tx.hash in self._ok:
            return True
        self.verified += 1
        if not verify(tx.sender, tx.signing_bytes, tx.signature):
            return False
        if len(self._ok) >= self.capacity:
            del self._ok[next(iter(self._ok))]
        self._ok[tx.hash] = None
        return True

    def forget(self, tx_hash: bytes) -> None:
        """Called once a tx is executed: its nonce now bars any replay."""
        self._ok.pop(tx_hash, None)


# ---- the envelope: chain, signature, nonce ---------------------------------------------------

def check_chain(tx: Transaction, genesis: Genesis) -> None:
    if tx.chain_id != genesis.chain_id:
        raise E.WrongChain(f"signed for chain {tx.chain_id.hex()[:16]}..., "
                           f"this is {genesis.chain_id.hex()[:16]}...")


def check_signature(tx: Transaction, sigs: SignatureCache) -> None:
    if not sigs.check(tx):
        raise E.BadSignature("signature does not verify for the sender's key")


def check_nonce(tx: Transaction, expected: int) -> None:
    if tx.nonce != expected:
        raise E.BadNonce(f"nonce {tx.nonce}, expected {expected}")


def check_envelope(view: StateView, tx: Transaction, sigs: SignatureCache) -> None:
    check_chain(tx, view.genesis)
    check_signature(tx, sigs)
    check_nonce(tx, view.account(tx.sender).nonce)


# ---- who may act ----------------------------------------------------------------------------

def check_regulator(view: StateView, sender: bytes) -> None:
    if sender != view.genesis.regulator:
        raise E.NotLicensed("only the regulator may do this")


def check_licensed(view: StateView, sender: bytes, role: str) -> Institution:
    """The sender is an institution currently licensed for `role`."""
    inst = view.genesis.institution_by_key(sender)
    if inst is None or role not in view.roles(inst.name):
        raise E.NotLicensed(f"sender is not an institution licensed as {role}")
    return inst


def licensed_institution(view: StateView, address: bytes) -> Institution | None:
    """The institution whose key this is, if it currently holds any license."""
    inst = view.genesis.institution_by_key(address)
    return inst if inst is not None and view.roles(inst.name) else None


# ---- KYC ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KycStatus:
    """The standing of a party to a transfer. Licensed institutions have no tier limits."""
    jurisdiction: str
    tier: Tier | None


def check_kyc(view: StateView, ctx: Context, address: bytes, who: str) -> KycStatus:
    """A valid attestation: present, unrevoked, unexpired, from a licensed kyc_issuer.

    Institutions are licensed by the regulator and so need no attestation of their own.
    """
    inst = licensed_institution(view, address)
    if inst is not None:
        return KycStatus(inst.jurisdiction, None)
    att = view.account(address).attestation
    if att is None:
        raise E.KycMissing(f"{who} {address.hex()[:16]}... holds no KYC attestation")
    if att.revoked:
        raise E.KycRevoked(f"{who}'s attestation was revoked by {att.issuer}")
    if "kyc_issuer" not in view.roles(att.issuer):
        raise E.IssuerNotLicensed(f"{who}'s attestation issuer {att.issuer} is no longer licensed")
    if att.expires_at <= ctx.timestamp:
        raise E.KycExpired(f"{who}'s attestation expired at {att.expires_at}")
    tier = view.genesis.tier(att.tier)
    if tier is None:  # genesis and kyc_attest both refuse unknown tiers; defensive
        raise E.UnknownTier(f"{who}'s tier {att.tier} is not defined")
    return KycStatus(att.jurisdiction, tier)


def check_jurisdiction(view: StateView, status: KycStatus, who: str) -> None:
    if status.jurisdiction in view.genesis.blocked_jurisdictions:
        raise E.JurisdictionBlocked(f"{who}'s jurisdiction {status.jurisdiction} is blocked")


def check_not_frozen(acct: Account, who: str) -> None:
    if acct.frozen:
        raise E.Frozen(f"{who}'s account is frozen")


def check_party(view: StateView, ctx: Context, address: bytes, who: str) -> KycStatus:
    """Everything a sender or recipient of value must satisfy."""
    check_not_frozen(view.account(address), who)
    status = check_kyc(view, ctx, address, who)
    check_jurisdiction(view, status, who)
    return status


# ---- amounts --------------------------------------------------------------------------------

def check_asset(view: StateView, code: str):
    asset = view.genesis.asset(code)
    if asset is None:
        raise E.UnknownAsset(f"no asset {code}")
    return asset


def check_asset_not_frozen(view: StateView, code: str) -> None:
    if view.asset_frozen(code):
        raise E.AssetFrozen(f"{code} is frozen")


def check_limits(status: KycStatus, acct: Account, asset: str, amount: int, ctx: Context) -> None:
    """Per-transaction and rolling 24 h limits of the sender's tier."""
    if status.tier is None:
        return
    limit = status.tier.limits.get(asset)
    if limit is None:
        raise E.LimitExceeded(f"tier {status.tier.tier} may not send {asset}")
    if amount > limit.per_tx:
        raise E.LimitExceeded(f"{amount} is over the tier {status.tier.tier} per-transaction "
                              f"limit of {limit.per_tx} {asset}")
    sent = acct.sent_in_window(asset, ctx.timestamp)
    if sent + amount > limit.daily:
        raise E.LimitExceeded(f"{sent} + {amount} is over the tier {status.tier.tier} 24 h "
                              f"limit of {limit.daily} {asset}")


def check_funds(acct: Account, asset: str, amount: int) -> None:
    if acct.balance(asset) < amount:
        raise E.InsufficientFunds(f"balance {acct.balance(asset)} {asset} < {amount}")


def check_no_overflow(current: int, amount: int, what: str) -> None:
    if current + amount > MAX_AMOUNT:
        raise E.LimitExceeded(f"{what} would exceed the largest representable amount")


# ---- per kind -------------------------------------------------------------------------------

def apply_transfer(view: StateView, tx: Transaction, p: Transfer, ctx: Context) -> None:
    check_asset(view, p.asset)
    check_asset_not_frozen(view, p.asset)
    if p.to == tx.sender:
        raise E.SelfTransfer("sender and recipient are the same account")
    sender_status = check_party(view, ctx, tx.sender, "sender")
    check_party(view, ctx, p.to, "recipient")
    sender = view.account(tx.sender)
    check_limits(sender_status, sender, p.asset, p.amount, ctx)
    check_funds(sender, p.asset, p.amount)
    check_no_overflow(view.account(p.to).balance(p.asset), p.amount, "recipient's balance")

    sender = view.account_mut(tx.sender)
    sender.balances[p.asset] -= p.amount
    if sender_status.tier is not None:
        sender.record_spend(p.asset, p.amount, ctx.timestamp)
    recipient = view.account_mut(p.to)
    recipient.balances[p.asset] = recipient.balance(p.asset) + p.amount


def check_asset_issuer(view: StateView, sender: bytes, code: str) -> None:
    asset = check_asset(view, code)
    inst = check_licensed(view, sender, "asset_issuer")
    if inst.name != asset.issuer:
        raise E.Unauthorized(f"{code} is issued by {asset.issuer}, not {inst.name}")


def apply_issue(view: StateView, tx: Transaction, p: Issue, ctx: Context) -> None:
    check_asset_issuer(view, tx.sender, p.asset)
    check_asset_not_frozen(view, p.asset)
    check_party(view, ctx, p.to, "recipient")
    check_no_overflow(view.supply(p.asset), p.amount, f"{p.asset} supply")

    recipient = view.account_mut(p.to)
    recipient.balances[p.asset] = recipient.balance(p.asset) + p.amount
    view.set_supply(p.asset, view.supply(p.asset) + p.amount)


def apply_redeem(view: StateView, tx: Transaction, p: Redeem, ctx: Context) -> None:
    check_asset_issuer(view, tx.sender, p.asset)
    check_asset_not_frozen(view, p.asset)
    check_funds(view.account(tx.sender), p.asset, p.amount)

    view.account_mut(tx.sender).balances[p.asset] -= p.amount
    view.set_supply(p.asset, view.supply(p.asset) - p.amount)


def apply_kyc_attest(view: StateView, tx: Transaction, p: KycAttest, ctx: Context) -> None:
    inst = check_licensed(view, tx.sender, "kyc_issuer")
    if view.genesis.tier(p.tier) is None:
        raise E.UnknownTier(f"tier {p.tier} is not defined in genesis")
    if p.expires_at <= ctx.timestamp:
        raise E.KycExpired("the attestation would already be expired")

    view.account_mut(p.subject).attestation = Attestation(
        inst.name, p.tier, p.jurisdiction, p.expires_at, p.evidence_hash)


def apply_kyc_revoke(view: StateView, tx: Transaction, p: KycRevoke, ctx: Context) -> None:
    inst = check_licensed(view, tx.sender, "kyc_issuer")
    att = view.account(p.subject).attestation
    if att is None:
        raise E.KycMissing("subject holds no attestation")
    if att.issuer != inst.name:
        raise E.Unauthorized(f"the attestation was issued by {att.issuer}, not {inst.name}")
    if att.revoked:
        raise E.KycRevoked("the attestation is already revoked")

    view.account_mut(p.subject).attestation.revoked = True  # type: ignore[union-attr]


def apply_license_change(view: StateView, tx: Transaction, p: LicenseGrant | LicenseRevoke,
                         ctx: Context) -> None:
    """license_grant / license_revoke: the regulator's, unless genesis gives licenses to a
    validator majority (node.governance)."""
    check_policy(view, REGULATOR)
    check_regulator(view, tx.sender)
    check_institution(view, p.institution)
    check_keeps_a_validator(view, p.KIND, p.institution, p.role)
    change_license(view, p.KIND, p.institution, p.role)


def apply_freeze(view: StateView, tx: Transaction, p: Freeze, ctx: Context) -> None:
    check_regulator(view, tx.sender)
    view.account_mut(p.account).frozen = True


def apply_unfreeze(view: StateView, tx: Transaction, p: Unfreeze, ctx: Context) -> None:
    check_regulator(view, tx.sender)
    view.account_mut(p.account).frozen = False


def check_asset_controller(view: StateView, sender: bytes, code: str) -> None:
    """The regulator, or the asset's licensed issuer."""
    check_asset(view, code)
    if sender != view.genesis.regulator:
        check_asset_issuer(view, sender, code)


def apply_asset_freeze(view: StateView, tx: Transaction, p: AssetFreeze, ctx: Context) -> None:
    check_asset_controller(view, tx.sender, p.asset)
    view.set_asset_frozen(p.asset, True)


def apply_asset_unfreeze(view: StateView, tx: Transaction, p: AssetUnfreeze, ctx: Context) -> None:
    check_asset_controller(view, tx.sender, p.asset)
    view.set_asset_frozen(p.asset, False)


def apply_clawback(view: StateView, tx: Transaction, p: Clawback, ctx: Context) -> None:
    """Enforcement: works on frozen assets and frozen accounts alike; needs no KYC standing."""
    check_asset_issuer(view, tx.sender, p.asset)
    if not view.genesis.asset(p.asset).clawback:  # type: ignore[union-attr]
        raise E.ClawbackDisabled(f"{p.asset} was not created clawback-able")
    if p.account == tx.sender:
        raise E.SelfTransfer("an issuer cannot claw back from itself")
    check_funds(view.account(p.account), p.asset, p.amount)
    check_no_overflow(view.account(tx.sender).balance(p.asset), p.amount, "issuer's balance")

    view.account_mut(p.account).balances[p.asset] -= p.amount
    issuer = view.account_mut(tx.sender)
    issuer.balances[p.asset] = issuer.balance(p.asset) + p.amount


APPLY = {
    "transfer": apply_transfer,
    "issue": apply_issue,
    "redeem": apply_redeem,
    "kyc_attest": apply_kyc_attest,
    "kyc_revoke": apply_kyc_revoke,
    "license_grant": apply_license_change,
    "license_revoke": apply_license_change,
    "freeze": apply_freeze,
    "unfreeze": apply_unfreeze,
    "asset_freeze": apply_asset_freeze,
    "asset_unfreeze": apply_asset_unfreeze,
    "clawback": apply_clawback,
    "governance_propose": apply_governance_propose,
    "governance_approve": apply_governance_approve,
}


def apply_rules(view: StateView, tx: Transaction, ctx: Context) -> None:
    """The kind's rules; raises a LedgerError and writes nothing, or applies the effect."""
    APPLY[tx.kind](view, tx, tx.payload, ctx)


def bump_nonce(view: StateView, tx: Transaction) -> None:
    view.account_mut(tx.sender).nonce = tx.nonce + 1


def admit(view: StateView, tx: Transaction, ctx: Context, sigs: SignatureCache) -> None:
    """Would tx succeed now? If so, apply it to `view` (the pool's speculative state)."""
    check_envelope(view, tx, sigs)
    apply_rules(view, tx, ctx)
    bump_nonce(view, tx)
