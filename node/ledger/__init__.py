"""What a node does with its ledger: the writer, replication, agreements, erasure, queries,
trail and verification."""
