"""KYC: every party to a movement of value holds a valid attestation, or is an exempt institution.

Attestations belong to their issuer. An account holds at most one attestation per issuer
(Account.attestations, issuer -> Attestation); an issuer writes and revokes only its own:
    re-attesting a subject it attested before replaces its own attestation (a renewal or a
      change of tier) unless that one was revoked: a revoked attestation stays revoked for its
      issuer (ATTESTATION_REVOKED); another issuer may add its own beside it, never overwrite it;
    kyc_revoke by a kyc_issuer revokes its own attestation of the subject; the regulator may
      revoke any attestation (kyc_revoke naming the issuer, or every live one with issuer "").
An attestation is valid when it is unrevoked, unexpired at the block's time, and its issuer is
licensed as kyc_issuer now and has been without a gap since it was issued: each attestation
carries its issuer's kyc epoch (node.ledger.rules.licensing bumps the epoch when kyc_issuer is
re-granted after a loss, unless the grant restores attestations). The best valid attestation
counts: the highest tier, and among equal tiers the issuer first by name. Its jurisdiction is the
party's; a party any valid attestation places in a blocked jurisdiction is blocked.
With no valid attestation the party is refused with the reason of its first attestation by
issuer name (KYC_REVOKED, ISSUER_NOT_LICENSED, KYC_EXPIRED), or KYC_MISSING without any.

Exempt institutions. The authority key of an institution licensed as validator, kyc_issuer or
asset_issuer (EXEMPT_ROLES) needs no attestation and has no tier limits: such institutions are
supervised as institutions, and they distribute assets and run the chain. Their jurisdiction is
the one genesis gives them, and blocked jurisdictions and freezes still apply. An institution
licensed only as observer (a read-only node) or holding no licence is a customer like any other:
it needs an attestation, and its tier's limits apply. Only a hash of the off-chain KYC file is
kept on chain.
"""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from node.ledger import errors as E
from node.ledger.genesis import Institution, Tier
from node.ledger.rules.context import Context
from node.ledger.rules.controls import check_not_frozen
from node.ledger.rules.licensing import check_licensed
from node.ledger.state import Account, Attestation, StateView
from node.ledger.types import KycAttest, KycRevoke, Role, Transaction

# The role check_kyc tests for every party, as a plain str: on Python 3.11 reading an enum
# member off its class costs about 70 ns, a module global one dict lookup.
_KYC_ISSUER = Role.KYC_ISSUER.value
# The licences that exempt an institution's authority key from KYC and tier limits.
EXEMPT_ROLES = frozenset({Role.VALIDATOR.value, Role.KYC_ISSUER.value, Role.ASSET_ISSUER.value})


class KycStatus(NamedTuple):
    """The standing of a party to a transfer. Exempt institutions have no tier limits.
    (A NamedTuple: built twice per transfer, it costs a third of a frozen dataclass.)"""
    jurisdiction: str
    tier: Tier | None
    # the jurisdictions of the party's other valid attestations (usually none)
    other_jurisdictions: tuple[str, ...] = ()


def exempt_institution(view: StateView, address: bytes) -> Institution | None:
    """The institution whose authority key this is, if a licence of EXEMPT_ROLES exempts it
    from KYC and tier limits right now (an observer-only institution is not exempt)."""
    inst = view.institution_by_authority_key(address)
    if inst is None or EXEMPT_ROLES.isdisjoint(view.roles(inst.name)):
        return None
    return inst


def attestation_refusal(view: StateView, ctx: Context, att: Attestation,
                        who: str) -> E.KycError | None:
    """Why this attestation does not count now, or None if it does."""
    if att.revoked:
        return E.KycRevoked(f"{who}'s attestation was revoked by {att.issuer}")
    if _KYC_ISSUER not in view.roles(att.issuer):
        return E.IssuerNotLicensed(f"{who}'s attestation issuer {att.issuer} is no longer "
                                   "licensed")
    if att.epoch != view.kyc_epoch(att.issuer):
        return E.IssuerNotLicensed(f"{who}'s attestation by {att.issuer} was issued before "
                                   f"{att.issuer} lost its kyc_issuer licence")
    if att.expires_at <= ctx.timestamp:
        return E.KycExpired(f"{who}'s attestation expired at {att.expires_at}")
    return None


def _status(view: StateView, att: Attestation, who: str) -> KycStatus:
    tier = view.tier(att.tier)
    if tier is None:  # genesis and kyc_attest refuse unknown tiers, and none is removed
        raise E.UnknownTier(f"{who}'s tier {att.tier} is not defined")
    return KycStatus(att.jurisdiction, tier)


def check_kyc(view: StateView, ctx: Context, address: bytes, who: str) -> KycStatus:
    """The best valid attestation (module docstring), or an exempt institution."""
    inst = exempt_institution(view, address)
    if inst is not None:
        return KycStatus(inst.jurisdiction, None)
    atts = view.account(address).attestations
    if len(atts) == 1:  # the common case, inline: one valid attestation
        (att,) = atts.values()
        if (not att.revoked and _KYC_ISSUER in view.roles(att.issuer)
                and att.epoch == view.kyc_epoch(att.issuer) and att.expires_at > ctx.timestamp):
            tier = view.tier(att.tier)
            if tier is not None:
                return KycStatus(att.jurisdiction, tier)
    elif not atts:
        raise E.KycMissing(f"{who} {address.hex()[:16]}... holds no KYC attestation")
    return _best(view, ctx, atts, who)  # several, or one that does not count: says why


def _best(view: StateView, ctx: Context, atts: dict[str, Attestation], who: str) -> KycStatus:
    """Of several attestations: the highest valid tier, ties to the issuer first by name."""
    ordered = sorted(atts.items())
    valid = [a for _, a in ordered if attestation_refusal(view, ctx, a, who) is None]
    if not valid:
        refusal = attestation_refusal(view, ctx, ordered[0][1], who)
        assert refusal is not None
        raise refusal
    best = max(valid, key=lambda a: a.tier)  # max keeps the first of equal tiers
    status = _status(view, best, who)
    others = tuple(sorted({a.jurisdiction for a in valid} - {best.jurisdiction}))
    return status._replace(other_jurisdictions=others)


def best_attestation(view: StateView, ctx: Context, acct: Account) -> Attestation | None:
    """The attestation that counts for this account now, or its first by issuer if none does
    (what an account query shows as `attestation`)."""
    ordered = [a for _, a in sorted(acct.attestations.items())]
    valid = [a for a in ordered if attestation_refusal(view, ctx, a, "") is None]
    if valid:
        return max(valid, key=lambda a: a.tier)
    return ordered[0] if ordered else None


def check_jurisdiction(view: StateView, status: KycStatus, who: str) -> None:
    blocked = view.blocked_jurisdictions()  # genesis's, as jurisdiction_block/_unblock left it
    if status.jurisdiction in blocked:
        raise E.JurisdictionBlocked(f"{who}'s jurisdiction {status.jurisdiction} is blocked")
    for j in status.other_jurisdictions:
        if j in blocked:
            raise E.JurisdictionBlocked(f"an attestation places {who} in {j}, which is blocked")


def check_party(view: StateView, ctx: Context, address: bytes, who: str) -> KycStatus:
    """Everything a sender or recipient of value must satisfy."""
    check_not_frozen(view.account(address), who)
    status = check_kyc(view, ctx, address, who)
    check_jurisdiction(view, status, who)
    return status


def check_sender_standing(view: StateView, ctx: Context, address: bytes) -> None:
    """A sender a pool may hold a future-nonce tx for: the regulator, or a party in good standing
    (not frozen, KYC valid or an exempt institution, jurisdiction not blocked). The held tx's own
    rules are judged when its turn comes; this only keeps unknown keys from parking txs."""
    if address == view.genesis.regulator:
        return
    check_party(view, ctx, address, "sender")


def check_tier(view: StateView, tier: int) -> Tier:
    """A tier an attestation may give: one defined now (by genesis or a tier_set)."""
    t = view.tier(tier)
    if t is None:
        raise E.UnknownTier(f"tier {tier} is not defined in genesis nor by a tier_set")
    return t


def check_not_yet_expired(expires_at: int, ctx: Context) -> None:
    """A new attestation must still be valid at the block's time."""
    if expires_at <= ctx.timestamp:
        raise E.KycExpired("the attestation would already be expired")


def check_not_revoked_by_issuer(view: StateView, subject: bytes, issuer: Institution) -> None:
    """An issuer's revoked attestation stays revoked: it cannot attest that subject again."""
    own = view.account(subject).attestations.get(issuer.name)
    if own is not None and own.revoked:
        raise E.AttestationRevoked(f"{issuer.name} revoked its attestation of this subject; "
                                   "it stays revoked")


def check_revocable(view: StateView, subject: bytes, issuer: str) -> Attestation:
    """The subject holds a live attestation by `issuer`."""
    atts = view.account(subject).attestations
    if not atts:
        raise E.KycMissing("subject holds no attestation")
    att = atts.get(issuer)
    if att is None:
        raise E.Unauthorized(f"the subject's attestations were issued by "
                             f"{', '.join(sorted(atts))}, not {issuer}")
    if att.revoked:
        raise E.KycRevoked("the attestation is already revoked")
    return att


def check_revoker(view: StateView, sender: bytes, p: KycRevoke) -> list[str]:
    """Whose attestations of the subject this kyc_revoke revokes: a kyc_issuer its own; the
    regulator the named issuer's, or every live one."""
    if sender == view.genesis.regulator:
        if p.issuer:
            if p.issuer not in view.account(p.subject).attestations:
                raise E.KycMissing(f"subject holds no attestation by {p.issuer}")
            return [p.issuer]
        live = sorted(n for n, a in view.account(p.subject).attestations.items() if not a.revoked)
        return live or [""]  # nothing live: check_revocable says why
    inst = check_licensed(view, sender, Role.KYC_ISSUER)
    if p.issuer not in ("", inst.name):
        raise E.Unauthorized(f"only the regulator revokes {p.issuer}'s attestations")
    return [inst.name]


def apply_kyc_attest(view: StateView, tx: Transaction, p: KycAttest, ctx: Context) -> None:
    """The issuer's attestation of the subject, beside other issuers' (replacing its own live
    one, if it had one)."""
    inst = check_licensed(view, tx.sender, Role.KYC_ISSUER)
    check_tier(view, p.tier)
    check_not_yet_expired(p.expires_at, ctx)
    check_not_revoked_by_issuer(view, p.subject, inst)

    view.account_mut(p.subject).attestations[inst.name] = Attestation(
        inst.name, p.tier, p.jurisdiction, p.expires_at, p.evidence_hash,
        epoch=view.kyc_epoch(inst.name))


def apply_kyc_revoke(view: StateView, tx: Transaction, p: KycRevoke, ctx: Context) -> None:
    issuers = check_revoker(view, tx.sender, p)
    atts = [check_revocable(view, p.subject, issuer) for issuer in issuers]

    acct = view.account_mut(p.subject)
    for att in atts:
        acct.attestations[att.issuer] = replace(att, revoked=True)
