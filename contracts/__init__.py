"""Agreements as contracts: deterministic rule modules, one kind per agreement type."""
