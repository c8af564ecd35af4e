"""Read-only questions about the chain, answered from the store, the state and the pool as
typed values (node.server.service). Nothing here writes or touches consensus."""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from node.ledger import errors as E
from node.ledger.execution import ChainTip
from node.ledger.genesis import Genesis
from node.ledger.mempool import Mempool
from node.ledger.rules import (
    Context,
    best_attestation,
    cancel_time_come,
    check_kyc,
    in_release_window,
    offer_expired,
    offer_lapsed,
)
from node.ledger.rules import licensed_validators as validators
from node.ledger.state import Escrow, Loan, Offer, State, SupervisoryReport
from node.ledger.types import (
    Block,
    EscrowStatus,
    LoanStatus,
    OfferStatus,
    Receipt,
    Transaction,
    decode_tx,
)
from node.server.certificates import stored_certificate
from node.server.service import (
    AccountView,
    AssetView,
    BlockRecord,
    BlockTx,
    BlockView,
    CreditView,
    EscrowQuery,
    EscrowView,
    InstitutionView,
    LoanView,
    OfferQuery,
    OfferView,
    PolicyView,
    ProposalView,
    TxProof,
)
from node.store.db import Store


class ChainReader:
    def __init__(self, genesis: Genesis, store: Store, state: State, pool: Mempool,
                 tip: Callable[[], ChainTip]):
        self.genesis = genesis
        self.store = store
        self.state = state
        self.pool = pool
        self.tip = tip

    def block_bytes(self, height: int) -> bytes | None:
        return self.store.block_bytes(height)

    def block_view(self, height: int, with_txs: bool = True) -> BlockView | None:
        """The block at `height`; without its txs' decodings and receipts unless `with_txs`."""
        raw = self.store.block_bytes(height)
        if raw is None:
            return None
        block = Block.decode(raw)
        txs = []
        for raw_tx in block.txs if with_txs else ():
            tx = decode_tx(raw_tx)
            txs.append(BlockTx(tx, self.store.receipt(tx.hash)))
        cert, voters = stored_certificate(self.store, height) or (None, ())
        return BlockView(block, self.store.state_hash_at(height) or b"", tuple(txs), cert, voters)

    def block_records(self, start: int, count: int, max_bytes: int) -> list[BlockRecord]:
        """The committed blocks from `start` on, as stored: at most `count`, and no more once
        their bytes reach `max_bytes` (the first is always given, whatever its size); fewer,
        or none, past the tip."""
        out: list[BlockRecord] = []
        size = 0
        for height in range(start, start + count):
            raw = self.store.block_bytes(height)
            if raw is None or (out and size + len(raw) > max_bytes):
                break
            record = self.store.certificate(height)  # [certificate wire, voters] or None
            out.append(BlockRecord(height, raw, self.store.state_hash_at(height) or b"",
                                   record[0] if record is not None else None))
            size += len(raw)
        return out

    def committed_tx(self, receipt: Receipt) -> Transaction:
        block = Block.decode(self.store.block_bytes(receipt.height))
        return decode_tx(block.txs[receipt.index])

    def tx_proof(self, tx_hash: bytes) -> TxProof | None:
        receipt = self.store.receipt(tx_hash)
        if receipt is None:
            return None
        cert, voters = stored_certificate(self.store, receipt.height) or (None, ())
        return TxProof(Block.decode(self.store.block_bytes(receipt.height)), receipt.index, receipt,
                       cert, voters)

    def account_view(self, address: bytes) -> AccountView:
        inst = (self.state.institution_by_node_key(address)
                or self.state.institution_by_authority_key(address))
        account = self.state.account(address)
        expiries = tuple((x.role, x.expires_at) for x in self.state.license_expiries()
                         if inst is not None and x.institution == inst.name)
        return AccountView(
            address=address, account=account,
            next_nonce=self.pool.view.account(address).nonce,
            kyc_refusal=self._kyc_refusal(address),
            institution=inst.name if inst is not None else None,
            roles=self.state.roles(inst.name) if inst is not None else frozenset(),
            attestation=best_attestation(self.state, Context(self.tip().timestamp), account),
            license_expiries=expiries)

    def _kyc_refusal(self, address: bytes) -> E.LedgerError | None:
        """Why the account could not transact at the last block's time; None if it could."""
        try:
            check_kyc(self.state, Context(self.tip().timestamp), address, "account")
        except E.LedgerError as err:
            return err
        return None

    def proposal_view(self, proposal_id: bytes) -> ProposalView | None:
        p = self.state.proposal(proposal_id)
        if p is None:
            return None
        return ProposalView(proposal_id, p, p.expires_at <= self.tip().timestamp,
                            validators(self.state))

    def institutions(self) -> list[InstitutionView]:
        """Every institution of the genesis with its current keys and licenses, by name."""
        s = self.state
        return [InstitutionView(i.name, s.node_key_of(i), s.authority_key_of(i),
                                (s.node_key_of(i), s.authority_key_of(i)) != (i.key, i.authority),
                                s.roles(i.name), i.jurisdiction, i.address, i.peer_address,
                                i.display)
                for i in s.institutions()]

    def asset_view(self, code: str) -> AssetView | None:
        """The asset now with its supply and latest reserve report (GET /v1/assets/{code});
        staleness is judged at the last block's time, as the next issue would be."""
        s = self.state
        asset = s.asset(code)
        if asset is None:
            return None
        reserves = s.reserves(code)
        stale = reserves is not None and asset.reserve_max_age_ms > 0 and (
            self.tip().timestamp - reserves.as_of > asset.reserve_max_age_ms)
        return AssetView(asset, s.supply(code), s.asset_frozen(code), reserves, stale,
                         s.held(code))

    def supervisory_reports(self) -> list[SupervisoryReport]:
        """The supervisory reports the state still holds, oldest first (GET /v1/reports)."""
        return self.state.reports()

    def assets(self) -> list[AssetView]:
        """Every asset now, by code (GET /v1/assets)."""
        return [v for a in self.state.assets() if (v := self.asset_view(a.code)) is not None]

    def policy(self) -> PolicyView:
        """The blocked jurisdictions now, the tiers and the institutions (GET /v1/policy)."""
        return PolicyView(tuple(sorted(self.state.blocked_jurisdictions())),
                          tuple(self.state.current_tiers()),
                          tuple(self.institutions()))

    def offer_view(self, offer_id: bytes) -> OfferView | None:
        offer = self.state.offer(offer_id)
        return None if offer is None else self._offer_view(offer_id, offer)

    def _offer_view(self, offer_id: bytes, offer: Offer) -> OfferView:
        return OfferView(offer_id, offer, offer_expired(offer, self.tip().timestamp))

    def offers(self, q: OfferQuery) -> list[OfferView]:
        """The offers matching the query (GET /v1/offers): by pair, and within a pair the best
        rate for a taker first (most give-leg units per want-leg unit), then the oldest."""
        views = [self._offer_view(i, o) for i, o in self.state.offers()
                 if (not q.give or o.give_asset == q.give) and (not q.want or o.want_asset == q.want)
                 and (not q.maker or o.maker == q.maker)]
        if q.open_only:
            views = [v for v in views if v.offer.status == OfferStatus.OPEN and not v.expired]
        views.sort(key=offer_order)
        return views[:q.limit]

    def escrow_view(self, escrow_id: bytes) -> EscrowView | None:
        escrow = self.state.escrow(escrow_id)
        return None if escrow is None else self._escrow_view(escrow_id, escrow)

    def _escrow_view(self, escrow_id: bytes, e: Escrow) -> EscrowView:
        now, is_open = self.tip().timestamp, e.status == EscrowStatus.OPEN
        return EscrowView(escrow_id, e, is_open and in_release_window(e, now),
                          is_open and cancel_time_come(e, now))

    def escrows(self, q: EscrowQuery) -> list[EscrowView]:
        """The escrows matching the query (GET /v1/escrows), soonest release first."""
        views = [self._escrow_view(i, e) for i, e in self.state.escrows()
                 if (not q.account or q.account in (e.payer, e.to))
                 and (not q.open_only or e.status == EscrowStatus.OPEN)]
        views.sort(key=lambda v: (v.escrow.release_after, v.escrow.created_at, v.escrow_id))
        return views[:q.limit]

    # ---- loans (node.ledger.rules.loans) ----------------------------------------------------
    def _loan_view(self, loan_id: bytes, loan: Loan) -> LoanView:
        now = self.tip().timestamp
        inst = self.state.institution_by_authority_key(loan.lender)
        lapsed = loan.status == LoanStatus.OFFERED and offer_lapsed(loan, now)
        return LoanView(loan_id, loan, inst.name if inst is not None else None, lapsed)

    def loans(self) -> list[LoanView]:
        """Every loan ever offered, by id (GET /v1/loans)."""
        return [self._loan_view(lid, loan) for lid, loan in self.state.loans()]

    def loan_view(self, loan_id: bytes) -> LoanView | None:
        loan = self.state.loan(loan_id)
        return None if loan is None else self._loan_view(loan_id, loan)

    def credit_view(self, address: bytes) -> CreditView:
        """The borrower's repayment record and its loans (GET /v1/credit/{account})."""
        return CreditView(address, self.state.credit(address),
                          tuple(v for v in self.loans() if v.loan.borrower == address))


def offer_order(v: OfferView) -> tuple:
    """Pair, then the price a taker pays per give-leg unit (exact: a Fraction, no floats),
    then age and id so the order is total."""
    o = v.offer
    return (o.give_asset, o.want_asset, Fraction(o.want_amount, o.give_amount), o.created_at,
            v.offer_id)
