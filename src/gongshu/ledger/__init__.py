"""Ledger: an append-only Merkle log of every state change, with signed checkpoints."""
