"""A node's home directory: its identity, its private key file and its database.

    <home>/node.json        origin code, name, public key (readable)
    <home>/signing.key      Ed25519 seed, mode 0600, never logged; optionally sealed with a
                            passphrase (node.host.keyfiles)
    <home>/signing.key.next the key being rotated to, only until the rotation is complete
    <home>/ledger.db        the SQLite store (plus -wal and -shm beside it)
    <home>/ledger.access.db the access log, in a file of its own (node.store.sqlite.access_file)
    <home>/log-seen.json    the largest checkpoint of this node's own log, signed by it, that
                            a peer has shown (kept outside the database, which may lose it)
    <home>/node.lock, restore-accepted.json   one node process per home, and the operator's
                            acceptance to append without a peer's confirmation (node.host.guard)

This is the composition root for local commands: ``open_node`` reads the settings once and wires
the store, the key and the ledger together.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from node.core.clock import Clock, system_clock
from node.core.countries import ISO_COUNTRIES
from node.core.crypto import PublicKey, SigningKey
from node.core.entries import SignedEntry
from node.core.errors import Conflict, InvalidInput, NotFound, OwnLogBehind, StorageFailed
from node.core.logs import LATEST
from node.host import keyfiles
from node.host.settings import Settings
from node.ledger.writer import BatchSigner, Ledger
from node.store.open import NodeStore, open_store
from node.store.sqlite import SqliteStore

__all__ = ["NodeConfig", "NodeHome", "load_signing_key", "write_atomic", "write_signing_key"]

KEY_HEADER = "mra-ledger ed25519 seed v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """The identity a node's home holds."""

    origin: str
    name: str
    public_key: PublicKey


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeHome:
    """Paths of one node's home directory."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "node.json"

    @property
    def key_path(self) -> Path:
        return self.path / "signing.key"

    @property
    def db_path(self) -> Path:
        return self.path / "ledger.db"

    def init(self, origin: str, name: str) -> NodeConfig:
        """Create a new identity: key pair, config and an empty ledger.

        Raises InvalidInput for a bad origin or name, Conflict if the home already holds a node.
        """
        if origin not in ISO_COUNTRIES:
            raise InvalidInput(f"{origin!r} is not an ISO 3166-1 alpha-2 code", field="origin")
        if not name.strip():
            raise InvalidInput("a node needs a name", field="name")
        if self.config_path.exists() or self.key_path.exists():
            raise Conflict(f"{self.path} already holds a node", field="home")
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = SigningKey.generate()
        write_signing_key(self.key_path, key)
        config = NodeConfig(origin=origin, name=name.strip(), public_key=key.public_key)
        self._write_config(config)
        store = SqliteStore.open(self.db_path)
        try:
            store.add_key(origin, 0, key.public_key)
        finally:
            store.close()
        return config

    def config(self) -> NodeConfig:
        """Read node.json; raises NotFound when the home holds no node."""
        try:
            data = json.loads(self.config_path.read_text())
        except FileNotFoundError as exc:
            raise NotFound(f"no node at {self.path} (run 'mra init' first)", field="home") from exc
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{self.config_path} is unreadable: {exc}", field="home") from exc
        return NodeConfig(
            origin=data["origin"],
            name=data["name"],
            public_key=PublicKey.from_hex(data["public_key"]),
        )

    def open_store(
        self, database_url: str | None = None, owner_url: str | None = None
    ) -> NodeStore:
        """This node's store: its SQLite file, or the PostgreSQL database at ``database_url``
        (``MRA_DATABASE_URL``; ``owner_url``: ``MRA_DATABASE_OWNER_URL``). Raises NotFound
        when the home holds no node, StorageFailed."""
        self.config()
        return open_store(self.db_path, database_url, owner_url=owner_url)

    @property
    def next_key_path(self) -> Path:
        return self.path / "signing.key.next"

    def open_ledger(
        self,
        store: NodeStore,
        clock: Clock = system_clock,
        *,
        settings: Settings | None = None,
        on_append: Callable[[], None] = lambda: None,
        signers: BatchSigner | None = None,
    ) -> Ledger:
        """The writer of this node's log in ``store``, with its key (opened with the passphrase
        of ``settings``: node.host.keyfiles); ``on_append`` is called after each append;
        ``signers`` makes a large batch's signatures (node.host.signer), None: the writer."""
        config = self._settle_rotation(store, settings)
        key = load_signing_key(self.key_path, settings)
        if key.public_key != config.public_key:
            raise Conflict("signing.key does not match the public key in node.json", field="key")
        ledger = Ledger(
            store=store,
            origin=config.origin,
            key=key,
            clock=clock,
            on_append=on_append,
            signers=signers,
        )
        ledger.hold = lambda: _behind(self.log_behind(store, config.origin))
        return ledger

    @property
    def log_seen_path(self) -> Path:
        return self.path / "log-seen.json"

    def log_seen(self) -> tuple[str, int]:
        """The peer that showed the largest checkpoint of this node's log, and its size."""
        try:
            data = json.loads(self.log_seen_path.read_text())
            return str(data["peer"]), int(data["size"])
        except FileNotFoundError:
            return "", 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{self.log_seen_path} is unreadable: {exc}", field="home") from exc

    def note_log_seen(self, peer: str, size: int) -> None:
        """Record that ``peer`` showed a checkpoint of ``size`` entries of this node's log,
        signed by this node (the caller verified it), when that is more than recorded."""
        if size > self.log_seen()[1]:
            try:
                write_atomic(self.log_seen_path, json.dumps({"peer": peer, "size": size}) + "\n")
            except OSError as exc:
                raise StorageFailed(f"cannot write {self.log_seen_path}: {exc}") from exc

    def log_behind(self, store: NodeStore, origin: str) -> str | None:
        """Why appending to ``origin``'s log in ``store`` would sign again a seq that a peer
        already holds, or None. The answer lifts by itself once the database holds the whole
        log again (restored from a backup)."""
        peer, size = self.log_seen()
        head = store.head(origin)
        held = head.size if head else 0
        if size <= held:
            return None
        return (
            f"{peer} holds a checkpoint of {size} entries of {origin}'s log signed by this node,"
            f" and this node holds {held}: entries it acknowledged were lost here (a torn WAL,"
            f" an old backup). Appends are refused so that no seq is signed twice; restore the"
            f" database from a backup that holds all {size} entries"
        )

    def rotate_key(
        self,
        ledger: Ledger,
        settings: Settings | None = None,
        *,
        compromised: bool = False,
        revoked_from: int | None = None,
    ) -> tuple[SignedEntry, SigningKey]:
        """Rotate this node's signing key: the new key is written beside the old one, the
        rotation entry is appended (signed by the old key), then the new key replaces the old
        file. After a crash at any step, ``open_ledger`` completes or drops the rotation.
        ``compromised`` and ``revoked_from``: see ``Ledger.rotate_key``."""
        new = SigningKey.generate()
        self.next_key_path.unlink(missing_ok=True)
        sealed = keyfiles.is_sealed(self.key_path)
        write_signing_key(self.next_key_path, new, sealed=sealed, settings=settings)
        try:
            entry = ledger.rotate_key(new, compromised=compromised, revoked_from=revoked_from)
        except InvalidInput:
            self.next_key_path.unlink(missing_ok=True)
            raise
        os.replace(self.next_key_path, self.key_path)
        self._write_config(replace(self.config(), public_key=new.public_key))
        return entry, new

    def _settle_rotation(self, store: NodeStore, settings: Settings | None) -> NodeConfig:
        """Finish a rotation the ledger recorded, or drop one it never did."""
        config = self.config()
        current = store.public_key(config.origin, LATEST)
        if self.next_key_path.exists():
            if load_signing_key(self.next_key_path, settings).public_key == current:
                os.replace(self.next_key_path, self.key_path)
            else:
                self.next_key_path.unlink()
        stale = current is not None and config.public_key != current
        if stale and load_signing_key(self.key_path, settings).public_key == current:
            config = replace(config, public_key=current)
            self._write_config(config)
        return config

    def _write_config(self, config: NodeConfig) -> None:
        document = {
            "origin": config.origin,
            "name": config.name,
            "public_key": config.public_key.hex(),
        }
        write_atomic(self.config_path, json.dumps(document, indent=2) + "\n")


def _behind(reason: str | None) -> OwnLogBehind | None:
    return None if reason is None else OwnLogBehind(reason)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so that a crash leaves the old or the new file,
    never a part of one."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_signing_key(
    path: Path, key: SigningKey, *, sealed: bool = False, settings: Settings | None = None
) -> None:
    """Write a new key file readable by its owner only (sealed with the passphrase of
    ``settings`` when ``sealed``: node.host.keyfiles); never overwrites."""
    content = f"{KEY_HEADER}\n{key.seed.hex()}\n".encode()
    keyfiles.write_private(path, content, sealed=sealed, settings=settings)


def load_signing_key(path: Path, settings: Settings | None = None) -> SigningKey:
    """Read a key file, refusing one that others may read (it would no longer be secret) and
    opening a sealed one with the passphrase of ``settings`` (node.host.keyfiles).

    Raises NotFound, InvalidInput (bad permissions, format or passphrase). The key never
    appears in errors.
    """
    try:
        lines = keyfiles.read_private(path, settings).decode("ascii").split()
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not an MRA Ledger key file", field="key") from None
    if len(lines) < 2 or " ".join(lines[:-1]) != KEY_HEADER:
        raise InvalidInput(f"{path} is not an MRA Ledger key file", field="key")
    try:
        seed = bytes.fromhex(lines[-1])
    except ValueError:
        raise InvalidInput(f"{path} is not an MRA Ledger key file", field="key") from None
    return SigningKey(seed)
