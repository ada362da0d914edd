"""Child process for the crash test: appends batches forever, printing each acknowledged one.

Usage: python -m tests.system.crash_writer DB KEYFILE FIRST_NUMBER
DB: a SQLite file, or a postgresql:// URL (the PostgreSQL store).
Prints "ack <last number>" after each publish returns (i.e. after the commit is durable).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from node.core.sample import sample_records
from node.host.home import load_signing_key
from node.ledger.writer import Ledger
from node.store.open import open_store


def main() -> None:
    db, keyfile, first = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    on_postgres = db.startswith("postgresql://")
    store = open_store(
        keyfile.parent / "ledger.db" if on_postgres else Path(db), db if on_postgres else None
    )
    ledger = Ledger(store=store, origin="BR", key=load_signing_key(keyfile))
    rng = random.Random(first)
    number = first
    while True:
        size = rng.choice((1, 1, 2, 5, 20, 100))
        ledger.publish(sample_records("BR", size, start=number))
        number += size
        sys.stdout.write(f"ack {number - 1}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
