"""Institutions on chain: the regulator adds one without a new chain.

Genesis names the first institutions; a regulator-signed institution_add names a new one (name,
display name, jurisdiction, node key, authority key, API and peer addresses) and holds no
licence: the regulator grants its roles after, with license_grant (or the validators, on a
`majority` chain). From the block that commits it the state holds it (StateView.institution /
institutions, record b"n" + name) and its keys (as a key_rotate would leave them, so every
"whose key is this" lookup finds it), and every enumeration of institutions (the membership
rules, the node's peer table, GET /v1/institutions) includes it. A validator or observer
licence then makes its node join by the existing membership machinery.

The name must be new, and neither key may be any institution's current key nor the
regulator's (one key, one party: node.ledger.rules.keys.check_key_unused).
"""
from __future__ import annotations

from node.ledger import errors as E
from node.ledger.genesis import Institution
from node.ledger.rules.context import Context
from node.ledger.rules.keys import check_key_unused
from node.ledger.rules.licensing import check_regulator
from node.ledger.state import InstitutionKeys, StateView
from node.ledger.types import InstitutionAdd, Transaction


def check_institution_new(view: StateView, name: str) -> None:
    """No institution, of genesis or added since, has this name."""
    if view.institution(name) is not None:
        raise E.InstitutionExists(f"an institution named {name!r} already exists")


def added_institution(p: InstitutionAdd) -> Institution:
    """The institution an institution_add names: no roles yet."""
    authority = None if p.authority_key == p.node_key else p.authority_key
    return Institution(p.name, p.node_key, p.address, p.jurisdiction, (), authority,
                       p.peer_address, p.display)


def apply_institution_add(view: StateView, tx: Transaction, p: InstitutionAdd,
                          ctx: Context) -> None:
    """institution_add: the regulator's; a new name; keys nobody holds."""
    check_regulator(view, tx.sender)
    check_institution_new(view, p.name)
    check_key_unused(view, p.node_key)
    if p.authority_key != p.node_key:
        check_key_unused(view, p.authority_key)
    inst = added_institution(p)
    view.add_institution(inst)
    view.set_keys(inst.name, InstitutionKeys(inst.key, inst.authority))
