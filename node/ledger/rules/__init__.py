"""The rulebook: every ledger rule, once, as a small named function.

A `check_*` function enforces one rule and raises the typed error that carries its reason code
(node.ledger.errors); an `apply_*` function runs its checks first and only then writes, so a
rejection never leaves a partial change behind. Admission (node.ledger.mempool), block
execution (node.ledger.execution) and chain verification (node.ledger.verify) all call these
functions and no others, so they cannot disagree. A rule reads only the state view and the
Context (the block's time), never the local clock.

RULE INDEX   rule -> function -> reason code (or the InvalidBlock subclass, for blocks)

Envelope (envelope.py): every transaction, before its kind's rules
  signed for this chain ........................ check_chain ............ WRONG_CHAIN
  signed by the sender's key ................... check_signature ........ BAD_SIGNATURE
  chain and signature (a pool's held tx) ....... check_signed ........... WRONG_CHAIN, BAD_SIGNATURE
  the sender's next nonce, exactly ............. check_nonce ............ BAD_NONCE
  all three, in that order ..................... check_envelope
  the nonce moves on ........................... apply_nonce

A transaction (transaction.py)
  dispatch to the kind's rules (APPLY) ......... apply_rules ............ UNKNOWN_KIND at decode
  admission: a failure rejects, changes nothing  admit
  in a block: a failure after the envelope
    still consumes the nonce ................... apply_in_block ......... the rule's code, in the receipt
  a block's timed work, before its txs:
    licence lapses, offer expiries, loan
    collections ................................ apply_block_start

Who may act (licensing.py)
  the sender is the regulator .................. check_regulator ........ NOT_LICENSED
  the sender is licensed for the role now ...... check_licensed ......... NOT_LICENSED
  the institution exists ....................... check_institution ...... UNKNOWN_INSTITUTION
  licenses are decided the chain's way ......... check_policy ........... GOVERNANCE_REQUIRED, GOVERNANCE_DISABLED
  the last validator keeps its license ......... check_keeps_a_validator  LAST_VALIDATOR
  a licence with an end has not already ended .. check_license_not_yet_expired LICENSE_EXPIRED
  grant or revoke one role (either path);
    a kyc_issuer re-granted after a gap starts
    a new kyc epoch (unless it restores) ....... apply_license
  licences due by the block's time lapse
    (every block, before its txs) .............. apply_license_expiries
  license_grant, license_revoke (emergency: the
    regulator under every policy) .............. apply_license_change

Key rotation (keys.py): the institution's current keys, in state from the rotating block on
  the new key is no current key nor the regulator's  check_key_unused ... KEY_IN_USE
  not the node key of the only validator ....... check_not_the_only_validator  LAST_VALIDATOR
  key_rotate (the regulator) ................... apply_key_rotate

Policy on chain (policy.py): the blocked jurisdictions and the tiers, in state from the
changing block on (genesis's until then); the regulator decides, under every license policy
  a block adds a jurisdiction not yet blocked .. check_not_blocked ...... ALREADY_BLOCKED
  an unblock removes a blocked one ............. check_blocked .......... NOT_BLOCKED
  jurisdiction_block, jurisdiction_unblock
    (the regulator) ............................ apply_jurisdiction_block, apply_jurisdiction_unblock
  a tier_set's assets exist, per_tx <= daily ... check_tier_limits ...... UNKNOWN_ASSET, BAD_TIER_LIMITS
  tier_set: add or replace a tier whole
    (the regulator) ............................ apply_tier_set

Institutions on chain (institutions.py): added ones in state from the adding block on; every
lookup and enumeration (membership.py, the peer table, the API) sees them; licences follow
  the name is new ............................... check_institution_new .. INSTITUTION_EXISTS
  institution_add (the regulator; its keys
    unused: check_key_unused) .................. apply_institution_add .. KEY_IN_USE

Controls (controls.py)
  a frozen sender does nothing (every kind;
    the regulator always acts) ................. check_sender_not_frozen  FROZEN
  the account is not frozen .................... check_not_frozen ....... FROZEN
  the asset is not frozen ...................... check_asset_not_frozen . ASSET_FROZEN
  freeze, unfreeze (the regulator) ............. apply_freeze, apply_unfreeze

KYC (kyc.py): validator/kyc_issuer/asset_issuer institutions pass as themselves; others
(observer-only institutions too) need an attestation; attestations belong to their issuer
  an institution exempt from KYC and tiers ..... exempt_institution
  why one attestation does not count ........... attestation_refusal .... KYC_REVOKED, ISSUER_NOT_LICENSED,
                                                                          KYC_EXPIRED
  the best valid attestation: unrevoked, by a
    kyc_issuer licensed without a gap since,
    unexpired at block time, of a known tier ... check_kyc .............. KYC_MISSING, KYC_REVOKED,
                                                                          ISSUER_NOT_LICENSED, KYC_EXPIRED,
                                                                          UNKNOWN_TIER
  what an account query shows .................. best_attestation
  the party's jurisdictions are not blocked
    (the set in state: policy.py) .............. check_jurisdiction ..... JURISDICTION_BLOCKED
  a party to a movement: not frozen, KYC,
    jurisdiction ............................... check_party ............ FROZEN and the above
  a sender a pool holds a future nonce for:
    the regulator, or a party as above ......... check_sender_standing .. FROZEN and the above
  an attestation's tier is defined (now) ....... check_tier ............. UNKNOWN_TIER
  a new attestation is not already expired ..... check_not_yet_expired .. KYC_EXPIRED
  an issuer's revoked attestation stays so ..... check_not_revoked_by_issuer ATTESTATION_REVOKED
  a kyc_issuer revokes its own, the regulator
    any (named, or every live one) ............. check_revoker .......... NOT_LICENSED, UNAUTHORIZED, KYC_MISSING
  the issuer's attestation is live ............. check_revocable ........ KYC_MISSING, UNAUTHORIZED, KYC_REVOKED
  kyc_attest, kyc_revoke (a kyc_issuer) ........ apply_kyc_attest, apply_kyc_revoke

Limits (limits.py): the tier's per-transaction and an exact rolling 24 h limit in block
time (at most MAX_SPENDS entries per asset: the oldest two merge at the later time)
  the sender's tier allows the amount .......... check_limits ........... LIMIT_EXCEEDED
  the balance covers the amount ................ check_funds ............ INSUFFICIENT_FUNDS
  no balance or supply above MAX_AMOUNT ........ check_no_overflow ...... LIMIT_EXCEEDED
  the amount counts in the window .............. apply_spend (read: sent_in_window)

Assets (assets.py)
  the asset exists ............................. check_asset ............ UNKNOWN_ASSET
  the sender is the asset's licensed issuer .... check_asset_issuer ..... NOT_LICENSED, UNAUTHORIZED
  the regulator or the asset's issuer .......... check_asset_controller . NOT_LICENSED, UNAUTHORIZED
  value does not move to its sender ............ check_not_to_self ...... SELF_TRANSFER
  the asset was created clawback-able .......... check_clawback_enabled . CLAWBACK_DISABLED
  transfer, issue, redeem, clawback ............ apply_transfer, apply_issue, apply_redeem, apply_clawback
  asset_freeze, asset_unfreeze ................. apply_asset_freeze, apply_asset_unfreeze
  the code is new .............................. check_asset_new ........ ASSET_EXISTS
  asset_add (the regulator; an existing issuer:
    check_institution) ......................... apply_asset_add ........ UNKNOWN_INSTITUTION
  asset_update: reserve flags and reporting
    threshold (the regulator) .................. apply_asset_update
  reserve_report (the asset's issuer), reserve_attest
    (an auditor) ............................... apply_reserve_report, apply_reserve_attest

Reserves (reserves.py): a reserve-backed asset issues within its issuer's latest report
  a report exists, as_of within reserve_max_age_ms
    of block time (0: no limit) ................ check_reserves_fresh ... RESERVES_STALE
  supply after the issue <= reported reserves .. check_within_reserves .. RESERVES_EXCEEDED
  both, for a reserve-backed asset's issue ..... check_reserves ......... RESERVES_STALE, RESERVES_EXCEEDED
  as_of not after block time, after the last ... check_report_time ...... RESERVE_IN_FUTURE, RESERVE_OUT_OF_ORDER
  the co-signer is licensed validator or
    observer, not the asset's issuer ........... check_auditor .......... NOT_LICENSED, UNAUTHORIZED
  the named report is the latest, unsigned ..... check_report_attestable  UNKNOWN_REPORT, ALREADY_ATTESTED

The travel rule (travel.py): originator and beneficiary institutions and a salted hash of the
off-chain IVMS101 record, optional on every transfer
  an institution holds a valid attestation of
    the party (or is it) ....................... vouches_for
  required: cross-jurisdiction, amount at or
    above the asset's report threshold ......... travel_rule_required
  required ones present; the originator knows
    the sender, the beneficiary the recipient .. check_travel_rule ...... TRAVEL_RULE_REQUIRED,
                                                                          ORIGINATOR_MISMATCH, BENEFICIARY_MISMATCH

Supervisory reports (reports.py): no refusal; a committed payment of an asset with a report
threshold (a transfer, each FX leg, an escrow made, a loan disbursed or repaid) may leave a
report in state (a ring of MAX_REPORTS)
  large: amount >= threshold; structuring: the
    sender's 24 h total (sent_in_window) crosses
    the threshold with this smaller transfer ... report_kind
  the report, after the payment ................ apply_supervisory_report

A payment (assets.py): the checks of a movement of value, shared by transfer, escrow and FX
  asset, not frozen, not to self, both parties,
    travel rule, sender's limits, funds (unless
    held in a lock), no overflow ............... check_payment .......... the codes of those checks
  units locked in, or released from, an offer
    or escrow (balances + held = supply) ....... add_held

PvP FX settlement (fx.py): the give leg locked at the offer; both legs or neither
  two assets, an expiry after block time ....... check_offer_terms ...... BAD_OFFER
  the offer exists ............................. check_offer ............ UNKNOWN_OFFER
  not filled, cancelled or swept ............... check_offer_not_closed . OFFER_CLOSED
  that, and not expired by block time
    (offer_expired) ............................ check_offer_open ....... OFFER_CLOSED, OFFER_EXPIRED
  the named counterparty, not the maker ........ check_counterparty ..... NOT_COUNTERPARTY, SELF_TRANSFER
  at most what is still wanted, whole unless
    partial, at least one unit received
    (floor(paid * give / want)) ................ check_fill ............. BAD_FILL, PARTIAL_NOT_ALLOWED
  only the maker cancels ....................... check_maker ............ UNAUTHORIZED
  fx_offer, fx_accept (two check_payment legs),
    fx_cancel .................................. apply_fx_offer, apply_fx_accept, apply_fx_cancel
  offers expired by the block's time release
    their locks (every block, before its txs,
    at most MAX_EXPIRIES_PER_BLOCK) ............ apply_offer_expiries

Escrow (escrow.py): value held for a recipient until a time and optionally a condition
  cancel_after after release_after ............. check_escrow_times ..... BAD_ESCROW
  the escrow exists and is open ................ check_escrow ........... UNKNOWN_ESCROW, ESCROW_CLOSED
  from release_after, before cancel_after
    (in_release_window) ........................ check_release_window ... ESCROW_NOT_YET, ESCROW_EXPIRED
  the payer, or anyone with the secret ......... check_releaser ......... ESCROW_CONDITION, UNAUTHORIZED
  asset, payer and recipient still in standing . check_releasable ....... ASSET_FROZEN, FROZEN and the KYC codes
  the payer, from cancel_after
    (cancel_time_come) ......................... check_cancellable ...... UNAUTHORIZED, ESCROW_NOT_YET
  escrow_create (check_payment), escrow_release,
    escrow_cancel .............................. apply_escrow_create, apply_escrow_release, apply_escrow_cancel

Microfinance loans (loans.py): collected on schedule by block time
  the lender: licensed, not only as observer ... check_lender ........... NOT_LICENSED
  instalments strictly increasing, the first
    after block time, adding up to principal +
    floor(principal * bps / 10000), at most
    MAX_AMOUNT; default_after <= instalments;
    an offer expiry after block time ........... check_schedule ......... BAD_SCHEDULE, LOAN_OFFER_EXPIRED
  the loan exists .............................. check_loan ............. UNKNOWN_LOAN
  the borrower, still offered, before expiry
    and the first due time (offer_lapsed) ...... check_acceptable ....... NOT_BORROWER, LOAN_NOT_OFFERED,
                                                                          LOAN_OFFER_EXPIRED
  accepted and not paid off or written off ..... check_active ........... LOAN_NOT_ACCEPTED, LOAN_CLOSED
  the borrower, at most what is outstanding .... check_repayment ........ NOT_BORROWER, OVERPAYMENT
  the lender, an active loan ................... check_writeoff ......... NOT_LENDER
  loan_offer, loan_accept (check_payment: the
    disbursement), loan_repay (check_payment),
    loan_writeoff .............................. apply_loan_offer, apply_loan_accept, apply_loan_repay,
                                                 apply_loan_writeoff
  loans whose due time or grace deadline came
    by the block's time take their turn: fall
    due, collect min(held, due) unless a freeze
    pauses it, judge, settle (every block,
    before its txs, at most
    MAX_COLLECTIONS_PER_BLOCK) ................. apply_loan_collections

Governance by a validator majority (governance.py)
  the sender is a validator now ................ check_validator ........ NOT_LICENSED
  the proposal exists .......................... check_proposal ......... UNKNOWN_PROPOSAL
  the proposal is still open ................... check_open ............. PROPOSAL_CLOSED
  the proposal has not expired ................. check_unexpired ........ PROPOSAL_EXPIRED
  one approval per institution ................. check_not_approved ..... ALREADY_APPROVED
  record; apply on a strict majority ........... apply_proposal (count: has_majority) LAST_VALIDATOR
  governance_propose, governance_approve ....... apply_governance_propose, apply_governance_approve

Blocks (header.py): a block that breaks one is skipped by every node
  height is the tip's + 1 ...................... check_height ........... BadHeight
  links to the tip's block hash ................ check_parent ........... BadParent
  time never decreases ......................... check_time_monotonic ... TimeWentBackwards
  proposed by a licensed validator ............. check_proposer ......... ProposerNotLicensed
  the proposer signed the header hash .......... check_block_signature .. BadBlockSignature
  no transaction twice ......................... check_no_duplicate_tx .. DuplicateTx
  the Merkle root matches the transactions ..... check_tx_root .......... BadTxRoot
  all of them, in that order ................... check_block

Membership (membership.py): pure predicates of ledger state, for rules, daemon and API
  node key (proposes, votes, peers): licensed_as, is_licensed_validator, is_licensed_peer
  authority key (every institution transaction): authority_as
  licensed_as, authority_as, licensed_names, licensed_validators, licensed_observers,
  is_licensed_validator, is_licensed_peer, expected_membership

Per kind, the rules in the order they are checked (the kind's apply_* function):
  transfer ............ asset, asset not frozen, not to self, sender party, recipient party,
                        travel rule (data given, or the asset has a threshold), limits, funds,
                        no overflow; then its supervisory report, if any
  issue ............... asset issuer, asset not frozen, recipient party, no overflow (supply),
                        reserves (a reserve-backed asset)
  redeem .............. asset issuer, asset not frozen, funds
  clawback ............ asset issuer, clawback enabled, not from self, funds, no overflow
  every kind .......... sender not frozen (unless the regulator), then the kind's rules
  kyc_attest .......... licensed kyc_issuer, tier, not yet expired, not revoked by issuer
  kyc_revoke .......... revoker (own, or the regulator's), revocable
  license_grant/_revoke policy regulator (unless emergency revoke), regulator, institution,
                        keeps a validator, licence not yet expired (grant)
  freeze, unfreeze .... regulator
  asset_freeze/_unfreeze asset controller
  governance_propose .. policy majority, validator, institution, unexpired
  governance_approve .. policy majority, validator, proposal, open, unexpired, not approved
  key_rotate .......... regulator, institution, key unused, not the only validator's node key
  jurisdiction_block .. regulator, not blocked;  jurisdiction_unblock: regulator, blocked
  tier_set ............ regulator, tier limits
  institution_add ..... regulator, new name, node and authority keys unused
  asset_add ........... regulator, new code, issuer institution;  asset_update: regulator, asset
  reserve_report ...... asset issuer, report time
  reserve_attest ...... asset, auditor, report attestable
  fx_offer ............ offer terms, assets, give asset not frozen, maker party, funds
  fx_accept ........... offer, open, counterparty, fill, then both legs' check_payment; each
                        leg's supervisory report, if any
  fx_cancel ........... offer, maker, open
  escrow_create ....... escrow times, check_payment; its supervisory report, if any
  escrow_release ...... escrow, release window, releaser, releasable
  escrow_cancel ....... escrow, cancellable
  loan_offer .......... lender, asset, not to self, schedule, borrower party
  loan_accept ......... loan, acceptable, check_payment (lender to borrower); its
                        supervisory report, if any
  loan_repay .......... loan, repayment, check_payment (borrower to lender); its
                        supervisory report, if any
  loan_writeoff ....... loan, writeoff

Value bounds: with the fields they bound (node.ledger.types), checked when a tx is decoded
  a tx is canonical msgpack, [chain_id, kind, sender, nonce, payload, signature] ... MALFORMED
  a tx is at most MAX_TX_BYTES (4096) ................................................ TOO_LARGE
  kind is one of TxKind .............................................................. UNKNOWN_KIND
  amount in [1, 2^63-1]; nonce in [0, 2^64-1]; tier in [0, 255]; expires_at in [0, 2^63-1];
  addresses and hashes 32 bytes, signatures 64; asset code [A-Z][A-Z0-9]{1,11}; jurisdiction
  [A-Z]{2}; institution name [A-Za-z0-9_.-]{1,64}; memo at most 256 bytes; a clawback reason
  non-empty, at most 256 bytes; role one of Role; action one of LicenseAction; a key_rotate's
  which one of KeyKind (node, authority) ............................................. MALFORMED
  memo and clawback reason are printable text: no control, format (bidi, zero-width),
  private-use or surrogate character, no line or paragraph separator (Cc Cf Co Cs Zl Zp;
  node.ledger.text.printable_text) ................................................... BAD_TEXT

Not ledger rules (a node's own, never part of a block's verdict): the pool's room, duplicate,
future-nonce window and held-tx caps and expiry (node.ledger.mempool: MEMPOOL_FULL, DUPLICATE,
BAD_NONCE), the genesis file's well-formedness (node.ledger.genesis: GenesisError), and the
bound on block time: a follower does not acknowledge a block stamped more than
max_clock_skew_ms ahead of its own clock, and stops following that leader for its term
(node.server.daemon, blocks from the future: the Raft drop counter says so). It decides what a
follower votes into the chain, so an honest majority keeps such a block from committing;
execution still takes a committed block's timestamp as given and reads no clock.
"""
from __future__ import annotations

from node.ledger.rules.assets import (
                                      add_held,
                                      apply_asset_add,
                                      apply_asset_freeze,
                                      apply_asset_unfreeze,
                                      apply_asset_update,
                                      apply_clawback,
                                      apply_issue,
                                      apply_redeem,
                                      apply_reserve_attest,
                                      apply_reserve_report,
                                      apply_transfer,
                                      check_asset,
                                      check_asset_controller,
                                      check_asset_issuer,
                                      check_asset_new,
                                      check_clawback_enabled,
                                      check_not_to_self,
                                      check_payment,
)
from node.ledger.rules.context import Context
from node.ledger.rules.controls import (
                                      apply_freeze,
                                      apply_unfreeze,
                                      check_asset_not_frozen,
                                      check_not_frozen,
                                      check_sender_not_frozen,
)
from node.ledger.rules.envelope import (
                                      SignatureCache,
                                      apply_nonce,
                                      check_chain,
                                      check_envelope,
                                      check_nonce,
                                      check_signature,
                                      check_signed,
)
from node.ledger.rules.escrow import (
                                      apply_escrow_cancel,
                                      apply_escrow_create,
                                      apply_escrow_release,
                                      cancel_time_come,
                                      check_cancellable,
                                      check_escrow,
                                      check_escrow_times,
                                      check_releasable,
                                      check_release_window,
                                      check_releaser,
                                      in_release_window,
)
from node.ledger.rules.fx import (
                                      MAX_EXPIRIES_PER_BLOCK,
                                      apply_fx_accept,
                                      apply_fx_cancel,
                                      apply_fx_offer,
                                      apply_offer_expiries,
                                      check_counterparty,
                                      check_fill,
                                      check_maker,
                                      check_offer,
                                      check_offer_not_closed,
                                      check_offer_open,
                                      check_offer_terms,
                                      fill_amount,
                                      offer_expired,
)
from node.ledger.rules.governance import (
                                      apply_governance_approve,
                                      apply_governance_propose,
                                      apply_proposal,
                                      check_not_approved,
                                      check_open,
                                      check_proposal,
                                      check_unexpired,
                                      check_validator,
                                      has_majority,
)
from node.ledger.rules.header import (
                                      check_block,
                                      check_block_signature,
                                      check_height,
                                      check_no_duplicate_tx,
                                      check_parent,
                                      check_proposer,
                                      check_time_monotonic,
                                      check_tx_root,
)
from node.ledger.rules.institutions import apply_institution_add, check_institution_new
from node.ledger.rules.keys import (
                                      apply_key_rotate,
                                      check_key_unused,
                                      check_not_the_only_validator,
)
from node.ledger.rules.kyc import (
                                      EXEMPT_ROLES,
                                      KycStatus,
                                      apply_kyc_attest,
                                      apply_kyc_revoke,
                                      attestation_refusal,
                                      best_attestation,
                                      check_jurisdiction,
                                      check_kyc,
                                      check_not_revoked_by_issuer,
                                      check_not_yet_expired,
                                      check_party,
                                      check_revocable,
                                      check_revoker,
                                      check_sender_standing,
                                      check_tier,
                                      exempt_institution,
)
from node.ledger.rules.licensing import (
                                      apply_license,
                                      apply_license_change,
                                      apply_license_expiries,
                                      check_institution,
                                      check_keeps_a_validator,
                                      check_license_not_yet_expired,
                                      check_licensed,
                                      check_policy,
                                      check_regulator,
)
from node.ledger.rules.limits import (
                                      HOUR_MS,
                                      MAX_SPENDS,
                                      WINDOW_HOURS,
                                      WINDOW_MS,
                                      apply_spend,
                                      check_funds,
                                      check_limits,
                                      check_no_overflow,
                                      sent_in_window,
)
from node.ledger.rules.loans import (
                                      MAX_COLLECTIONS_PER_BLOCK,
                                      apply_loan_accept,
                                      apply_loan_collections,
                                      apply_loan_offer,
                                      apply_loan_repay,
                                      apply_loan_writeoff,
                                      check_acceptable,
                                      check_active,
                                      check_lender,
                                      check_loan,
                                      check_repayment,
                                      check_schedule,
                                      check_writeoff,
                                      equal_instalments,
                                      loan_total,
                                      offer_lapsed,
)
from node.ledger.rules.membership import (
                                      PEER_ROLES,
                                      Membership,
                                      authority_as,
                                      expected_membership,
                                      is_licensed_peer,
                                      is_licensed_validator,
                                      licensed_as,
                                      licensed_names,
                                      licensed_observers,
                                      licensed_validators,
)
from node.ledger.rules.policy import (
                                      apply_jurisdiction_block,
                                      apply_jurisdiction_unblock,
                                      apply_tier_set,
                                      check_blocked,
                                      check_not_blocked,
                                      check_tier_limits,
)
from node.ledger.rules.reports import apply_supervisory_report, report_kind
from node.ledger.rules.reserves import (
                                      AUDITOR_ROLES,
                                      check_auditor,
                                      check_report_attestable,
                                      check_report_time,
                                      check_reserves,
                                      check_reserves_fresh,
                                      check_within_reserves,
)
from node.ledger.rules.transaction import (
                                      APPLY,
                                      admit,
                                      apply_block_start,
                                      apply_in_block,
                                      apply_rules,
)
from node.ledger.rules.travel import check_travel_rule, travel_rule_required, vouches_for

bump_nonce = apply_nonce  # the name before the rulebook package

__all__ = [
    "APPLY", "EXEMPT_ROLES", "HOUR_MS", "MAX_SPENDS", "PEER_ROLES", "WINDOW_HOURS", "WINDOW_MS", "Context", "KycStatus", "Membership",
    "SignatureCache", "admit", "apply_asset_freeze", "apply_asset_unfreeze", "apply_clawback",
    "apply_freeze", "apply_governance_approve", "apply_governance_propose", "apply_in_block", "apply_block_start",
    "apply_issue", "apply_key_rotate", "apply_kyc_attest", "apply_kyc_revoke", "apply_license",
    "apply_license_change", "apply_nonce", "apply_proposal", "apply_redeem", "apply_rules",
    "apply_spend", "apply_transfer", "apply_unfreeze", "authority_as", "bump_nonce", "check_asset",
    "check_asset_controller", "check_asset_issuer", "check_asset_not_frozen", "check_block",
    "check_block_signature", "check_chain", "check_clawback_enabled", "check_envelope",
    "check_funds", "check_height", "check_institution", "check_jurisdiction",
    "check_keeps_a_validator", "check_key_unused", "check_kyc", "check_licensed", "check_limits",
    "check_no_duplicate_tx", "check_no_overflow", "check_nonce", "check_not_approved",
    "check_not_frozen", "check_not_the_only_validator", "check_not_to_self", "check_not_yet_expired", "check_open",
    "check_parent", "check_party", "check_policy", "check_proposal", "check_proposer",
    "check_regulator", "check_revocable", "check_sender_standing", "check_signature",
    "check_signed", "check_tier",
    "check_time_monotonic", "check_tx_root", "check_unexpired", "check_validator",
    "expected_membership", "has_majority", "is_licensed_peer", "is_licensed_validator",
    "licensed_as", "licensed_names", "licensed_observers",
    "licensed_validators", "sent_in_window",
    "apply_license_expiries", "attestation_refusal", "best_attestation",
    "check_license_not_yet_expired", "check_not_revoked_by_issuer", "check_revoker",
    "check_sender_not_frozen", "exempt_institution",
    "apply_jurisdiction_block", "apply_jurisdiction_unblock", "check_blocked", "check_not_blocked",
    "apply_tier_set", "check_tier_limits", "apply_institution_add", "check_institution_new",
    "AUDITOR_ROLES", "apply_asset_add", "apply_asset_update", "apply_reserve_attest",
    "apply_reserve_report", "check_asset_new", "check_auditor", "check_report_attestable",
    "check_report_time", "check_reserves", "check_reserves_fresh", "check_within_reserves",
    "apply_supervisory_report", "report_kind", "check_travel_rule", "travel_rule_required",
    "vouches_for", "check_payment", "MAX_EXPIRIES_PER_BLOCK", "apply_fx_accept",
    "apply_fx_cancel", "apply_fx_offer", "apply_offer_expiries", "check_counterparty",
    "check_fill", "check_maker", "check_offer", "check_offer_open", "check_offer_terms",
    "fill_amount", "apply_escrow_cancel", "apply_escrow_create", "apply_escrow_release",
    "check_cancellable", "check_escrow", "check_escrow_times", "check_releasable",
    "check_release_window", "check_releaser",
    "MAX_COLLECTIONS_PER_BLOCK", "apply_loan_accept", "apply_loan_collections",
    "apply_loan_offer", "apply_loan_repay", "apply_loan_writeoff", "check_acceptable",
    "check_active", "check_lender", "check_loan", "check_repayment", "check_schedule",
    "check_writeoff", "equal_instalments", "loan_total", "offer_lapsed",
    "check_offer_not_closed", "offer_expired", "cancel_time_come", "in_release_window",
    "add_held",
]
