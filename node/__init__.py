"""One customs administration's node: the pure ledger core and the layers around it."""
