"""Private key files at rest: readable by their owner only, optionally sealed with a passphrase.

A node's private keys are ``signing.key`` (Ed25519, the ledger), ``sealing.key`` (X25519, what
partners seal deliveries to) and ``tls.key`` (its TLS identity). The node refuses to start when
another user may read or write one of them. ``mra key encrypt`` seals them with a passphrase,
which the node then reads from ``MRA_KEY_PASSPHRASE`` or from the file ``MRA_KEY_PASSPHRASE_FILE``
names (a Docker secret, say):

- ``signing.key`` and ``sealing.key`` become ``SEALED_HEADER``, a line with the argon2id
  parameters and salt, and a line with the SecretBox (XSalsa20-Poly1305) of the former content,
  keyed by argon2id(passphrase);
- ``tls.key`` becomes an encrypted PKCS#8 PEM, which TLS libraries open with the passphrase.

Neither passphrases nor key bytes ever appear in an error message or a log line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.utils
from cryptography.hazmat.primitives import serialization

from node.core.errors import InvalidInput, NotFound
from node.host.settings import Settings, key_passphrase

__all__ = [
    "PRIVATE_FILES",
    "check_home",
    "encrypt_home",
    "is_sealed",
    "passphrase",
    "read_private",
    "tls_password",
    "write_private",
]

PRIVATE_FILES = ("signing.key", "signing.key.next", "sealing.key", "tls.key", "ca.key")
SEALED_HEADER = b"mra-ledger sealed key v1"
PASSPHRASE_ENV = "MRA_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "MRA_KEY_PASSPHRASE_FILE"
MIN_PASSPHRASE = 12


def passphrase(settings: Settings | None = None) -> bytes | None:
    """The key passphrase of ``settings``. Without them it is read from the environment now:
    only for the callers not yet given their Settings (``mra`` commands);
    a node reads it once, at start."""
    return key_passphrase() if settings is None else settings.key_passphrase


def check_owner_only(path: Path) -> None:
    """Refuse a key file that users other than its owner may access."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"{path} is accessible to other users (mode {stat.S_IMODE(mode):o}); "
            f"run 'chmod 600 {path}'",
            field="key",
        )


def check_home(home: Path) -> None:
    """Every private key file in a node's home is its owner's alone (checked at start)."""
    for name in PRIVATE_FILES:
        if (home / name).exists():
            check_owner_only(home / name)


def is_sealed(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(SEALED_HEADER)) == SEALED_HEADER


def read_private(path: Path, settings: Settings | None = None) -> bytes:
    """The content of a private key file, opened with the passphrase (``passphrase``) when it
    is sealed.

    Raises NotFound, or InvalidInput for a file others may read, a missing or wrong passphrase.
    """
    try:
        check_owner_only(path)
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFound(f"no key file at {path}", field="key") from exc
    if not data.startswith(SEALED_HEADER):
        return data
    secret = passphrase(settings)
    if secret is None:
        raise InvalidInput(
            f"{path} is encrypted: set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV}",
            field="passphrase",
        )
    return _unseal(path, data, secret)


def write_private(
    path: Path, data: bytes, *, sealed: bool = False, settings: Settings | None = None
) -> None:
    """Write a new owner-only key file (never replacing one), sealed with the passphrase
    (``passphrase``) when ``sealed``."""
    content = _seal(data, _required_passphrase(settings)) if sealed else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def encrypt_home(home: Path, secret: bytes) -> list[str]:
    """Seal the home's private keys with ``secret``; returns the files changed (a file already
    sealed is left as it is). Each is replaced atomically, so a crash leaves the old or the new."""
    if len(secret) < MIN_PASSPHRASE:
        raise InvalidInput(
            f"a passphrase of at least {MIN_PASSPHRASE} characters", field="passphrase"
        )
    changed = []
    for name in ("signing.key", "sealing.key"):
        path = home / name
        if path.exists() and not is_sealed(path):
            check_owner_only(path)
            _replace(path, _seal(path.read_bytes(), secret))
            changed.append(name)
    tls = home / "tls.key"
    if tls.exists() and b"ENCRYPTED" not in tls.read_bytes():
        check_owner_only(tls)
        key = serialization.load_pem_private_key(tls.read_bytes(), password=None)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(secret),
        )
        _replace(tls, pem)
        changed.append("tls.key")
    return changed


def tls_password(key_file: Path, settings: Settings | None = None) -> bytes | None:
    """The passphrase (``passphrase``) to open ``tls.key`` with, when it is encrypted."""
    if b"ENCRYPTED" not in key_file.read_bytes():
        return None
    return _required_passphrase(settings, key_file)


def _required_passphrase(settings: Settings | None, path: Path | None = None) -> bytes:
    secret = passphrase(settings)
    if secret is None:
        where = f"{path} is encrypted: " if path else "a passphrase is needed: "
        raise InvalidInput(where + f"set {PASSPHRASE_ENV} or {PASSPHRASE_FILE_ENV}", field="key")
    return secret


def _box(secret: bytes, salt: bytes, ops: int, mem: int) -> nacl.secret.SecretBox:
    key = argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, secret, salt, opslimit=ops, memlimit=mem)
    return nacl.secret.SecretBox(key)


def _seal(data: bytes, secret: bytes) -> bytes:
    salt = nacl.utils.random(argon2id.SALTBYTES)
    ops, mem = argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE
    sealed = _box(secret, salt, ops, mem).encrypt(data)
    return b"%s\nargon2id %d %d %s\n%s\n" % (
        SEALED_HEADER,
        ops,
        mem,
        salt.hex().encode(),
        bytes(sealed).hex().encode(),
    )


def _unseal(path: Path, data: bytes, secret: bytes) -> bytes:
    try:
        _, params, box = data.split(b"\n")[:3]
        kdf, ops, mem, salt = params.split(b" ")
        if kdf != b"argon2id" or int(ops) > 16 or int(mem) > 2**31:
            raise ValueError("unknown parameters")
        sealed = bytes.fromhex(box.decode("ascii"))
        return _box(secret, bytes.fromhex(salt.decode("ascii")), int(ops), int(mem)).decrypt(sealed)
    except nacl.exceptions.CryptoError:
        raise InvalidInput(f"wrong passphrase for {path}", field="passphrase") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"{path} is not a sealed MRA Ledger key file", field="key") from None


def _replace(path: Path, content: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
