"""The ledger (pure rules and types), its storage, and the server around them.

Arrows point one way: server -> store -> ledger (checked by tests/test_layers.py)."""
