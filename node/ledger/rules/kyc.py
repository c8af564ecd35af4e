"""KYC: every party to a movement of value holds a valid attestation, or is an institution.

An attestation is valid when it is present, unrevoked, issued by an institution licensed as
kyc_issuer right now, and unexpired at the block's time; its tier says the party's limits
(node.ledger.rules.limits). Institutions are licensed by the regulator and so need no
attestation of their own, and have no tier limits. Only a hash of the off-chain KYC file is
kept on chain.
"""
from __future__ import annotations

from dataclasses import dataclass

from node.ledger import errors as E
from node.ledger.genesis import Institution, Tier
from node.ledger.rules.context import Context
from node.ledger.rules.controls import check_not_frozen
from node.ledger.rules.licensing import check_licensed
from node.ledger.rules.membership import licensed_institution
from node.ledger.state import Attestation, StateView
from node.ledger.types import KycAttest, KycRevoke, Role, Transaction

# The role check_kyc tests for every party, as a plain str: on Python 3.11 reading an enum
# member off its class costs about 70 ns, a module global one dict lookup.
_KYC_ISSUER = Role.KYC_ISSUER.value


@dataclass(frozen=True)
class KycStatus:
    """The standing of a party to a transfer. Licensed institutions have no tier limits."""
    jurisdiction: str
    tier: Tier | None


def check_kyc(view: StateView, ctx: Context, address: bytes, who: str) -> KycStatus:
    """A valid attestation: present, unrevoked, unexpired, from a licensed kyc_issuer."""
    inst = licensed_institution(view, address)
    if inst is not None:
        return KycStatus(inst.jurisdiction, None)
    att = view.account(address).attestation
    if att is None:
        raise E.KycMissing(f"{who} {address.hex()[:16]}... holds no KYC attestation")
    if att.revoked:
        raise E.KycRevoked(f"{who}'s attestation was revoked by {att.issuer}")
    if _KYC_ISSUER not in view.roles(att.issuer):
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


def check_party(view: StateView, ctx: Context, address: bytes, who: str) -> KycStatus:
    """Everything a sender or recipient of value must satisfy."""
    check_not_frozen(view.account(address), who)
    status = check_kyc(view, ctx, address, who)
    check_jurisdiction(view, status, who)
    return status


def check_sender_standing(view: StateView, ctx: Context, address: bytes) -> None:
    """A sender a pool may hold a future-nonce tx for: the regulator, or a party in good standing
    (not frozen, KYC valid or a licensed institution, jurisdiction not blocked). The held tx's own
    rules are judged when its turn comes; this only keeps unknown keys from parking txs."""
    if address == view.genesis.regulator:
        return
    check_party(view, ctx, address, "sender")


def check_tier(view: StateView, tier: int) -> Tier:
    """A tier an attestation may give: one genesis defines."""
    t = view.genesis.tier(tier)
    if t is None:
        raise E.UnknownTier(f"tier {tier} is not defined in genesis")
    return t


def check_not_yet_expired(expires_at: int, ctx: Context) -> None:
    """A new attestation must still be valid at the block's time."""
    if expires_at <= ctx.timestamp:
        raise E.KycExpired("the attestation would already be expired")


def check_revocable(view: StateView, subject: bytes, issuer: Institution) -> Attestation:
    """The subject holds a live attestation by this issuer: only its issuer revokes it."""
    att = view.account(subject).attestation
    if att is None:
        raise E.KycMissing("subject holds no attestation")
    if att.issuer != issuer.name:
        raise E.Unauthorized(f"the attestation was issued by {att.issuer}, not {issuer.name}")
    if att.revoked:
        raise E.KycRevoked("the attestation is already revoked")
    return att


def apply_kyc_attest(view: StateView, tx: Transaction, p: KycAttest, ctx: Context) -> None:
    """A new attestation replaces the subject's previous one, whoever issued that."""
    inst = check_licensed(view, tx.sender, Role.KYC_ISSUER)
    check_tier(view, p.tier)
    check_not_yet_expired(p.expires_at, ctx)

    view.account_mut(p.subject).attestation = Attestation(
        inst.name, p.tier, p.jurisdiction, p.expires_at, p.evidence_hash)


def apply_kyc_revoke(view: StateView, tx: Transaction, p: KycRevoke, ctx: Context) -> None:
    inst = check_licensed(view, tx.sender, Role.KYC_ISSUER)
    check_revocable(view, p.subject, inst)

    att = view.account_mut(p.subject).attestation
    assert att is not None  # check_revocable found it
    att.revoked = True
