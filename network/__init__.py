"""Membership, peer transport and gossip between nodes."""
