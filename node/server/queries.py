"""Read-only questions about the chain, answered from the store, the state and the pool as
typed values (node.server.service). Nothing here writes or touches consensus."""
from __future__ import annotations

from collections.abc import Callable

from node.ledger import errors as E
from node.ledger.execution import ChainTip
from node.ledger.genesis import Genesis
from node.ledger.mempool import Mempool
from node.ledger.rules import Context, best_attestation, check_kyc
from node.ledger.rules import licensed_validators as validators
from node.ledger.state import Loan, State, SupervisoryReport
from node.ledger.types import Block, LoanStatus, Receipt, Transaction, decode_tx
from node.server.certificates import stored_certificate
from node.server.service import (
    AccountView,
    AssetView,
    BlockTx,
    BlockView,
    CreditView,
    InstitutionView,
    LoanView,
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
        return AssetView(asset, s.supply(code), s.asset_frozen(code), reserves, stale)

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

    # ---- loans (node.ledger.rules.loans) ----------------------------------------------------
    def _loan_view(self, loan_id: bytes, loan: Loan) -> LoanView:
        now = self.tip().timestamp
        inst = self.state.institution_by_authority_key(loan.lender)
        lapsed = loan.status == LoanStatus.OFFERED and (
            loan.expires_at <= now or loan.schedule[0][0] <= now)
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
