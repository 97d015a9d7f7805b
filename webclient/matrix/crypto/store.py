"""The crypto store of each Matrix device: nio's olm account, sessions and keys, kept safely.

One store per Matrix device (a signed-in `Credential`), surviving restarts and upgrades:

- On the embedded default (SQLite) it is one SQLite file per device in `CRYPTO_STORE_DIR`
  (`DATA_DIR/crypto`), named after a hash of the device.
- When the database is PostgreSQL (`DATABASE_URL`) it is rows in the shared database
  (tables `matrix_crypto_*`, created by the migrations of `webclient.matrix`), so a device
  can move between processes and machines.

`CryptoStore` is a nio `MatrixStore` with every method overridden: nio calls them
synchronously from inside its async code, so they run plain SQL on `sqlite3` or on one
psycopg 3 connection per process, never through Django's ORM (which refuses to run there).
Both backends share the same tables and statements.

Keys. Pickles (olm account, olm and megolm sessions) are encrypted by vodozemac with a pickle
key derived from `CRYPTO_STORE_KEY`, or from `SECRET_KEY` with HKDF and its own info string
when that is not set. Stored secrets (`save_secret`, or `encrypt_secret` for other code) use
AES-256-GCM with another key derived the same way. Nothing about the key is stored with the
data except `key_check` (an independent HKDF output), which tells a wrong key from a corrupt
store: opening a store with another key raises `CryptoStoreKeyError`.

Fencing. A store opened with a lease (`lease.DeviceLease`: `held`, `fencing_token`) first
claims the store with its token, then every write transaction checks, in the same transaction
and under the row lock of the device's account row, that no newer token has claimed the store
since (`UPDATE ... SET fence = token WHERE fence <= token`). A holder whose lease has expired
locally is refused before it even writes (`LeaseNotHeld`); one that has been overtaken by a
newer holder is refused by the database (`StaleFencingToken`); one whose store was deleted
(sign-out) gets `StoreDeleted`. A newer holder claims the store before it loads anything, so
whatever an older holder wrote before that claim is what the newer one loads.

On the embedded default the lease is process-local (`lease.LocalLeaseBackend`): one process
serves everything, and the same fence check runs in the file, guarding against stale holders
inside the process. A second process on the same data directory would need a shared lease
(REDIS_URL); without one, that is not a supported configuration (nor is it for the in-memory
channel layer).

Deleting a `Credential` deletes its device's store once the deletion commits (see
`forget_credential`, connected in `matrix.signals`), unless another credential of this client
is the same Matrix device.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from nio.crypto import (
    DeviceStore,
    GroupSessionStore,
    InboundGroupSession,
    OlmAccount,
    OlmDevice,
    OutgoingKeyRequest,
    Session,
    SessionStore,
    TrustState,
)
from nio.store import MatrixStore

logger = logging.getLogger("webclient.matrix.crypto")

T = TypeVar("T")

# Version of the file schema (`PRAGMA user_version`); PostgreSQL follows the migrations.
SCHEMA_VERSION = 1

ACCOUNT = "matrix_crypto_account"
CHILD_TABLES = (
    "matrix_crypto_olm_session",
    "matrix_crypto_group_session",
    "matrix_crypto_device",
    "matrix_crypto_encrypted_room",
    "matrix_crypto_key_request",
    "matrix_crypto_secret",
)

# The same tables as the models in matrix/models.py (a unit test compares them).
FILE_SCHEMA = f"""
CREATE TABLE {ACCOUNT} (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    account BLOB,
    shared INTEGER NOT NULL DEFAULT 0,
    fence INTEGER NOT NULL DEFAULT 0,
    key_check TEXT NOT NULL,
    sync_token TEXT NOT NULL DEFAULT '',
    UNIQUE (user_id, device_id)
);
CREATE TABLE matrix_crypto_olm_session (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES {ACCOUNT} (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    session BLOB NOT NULL,
    creation_time REAL NOT NULL,
    use_time REAL NOT NULL,
    UNIQUE (account_id, session_id)
);
CREATE TABLE matrix_crypto_group_session (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES {ACCOUNT} (id) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    session_id TEXT NOT NULL,
    signing_key TEXT NOT NULL,
    session BLOB NOT NULL,
    forwarding_chain TEXT NOT NULL DEFAULT '[]',
    UNIQUE (account_id, room_id, sender_key, session_id)
);
CREATE TABLE matrix_crypto_device (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES {ACCOUNT} (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    deleted INTEGER NOT NULL DEFAULT 0,
    keys TEXT NOT NULL DEFAULT '{{}}',
    trust_state INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, user_id, device_id)
);
CREATE TABLE matrix_crypto_encrypted_room (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES {ACCOUNT} (id) ON DELETE CASCADE,
    room_id TEXT NOT NULL,
    UNIQUE (account_id, room_id)
);
CREATE TABLE matrix_crypto_key_request (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES {ACCOUNT} (id) ON DELETE CASCADE,
    request_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    UNIQUE (account_id, request_id)
);
CREATE TABLE matrix_crypto_secret (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES {ACCOUNT} (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (account_id, name)
);
"""


# -- errors ---------------------------------------------------------------------------------


class CryptoStoreError(Exception):
    """The crypto store cannot be used."""


class CryptoStoreKeyError(CryptoStoreError):
    """The store (or a secret) was encrypted with another key than the configured one."""


class StoreWriteRefused(CryptoStoreError):
    """A write was refused: this process no longer drives the device's encryption."""


class LeaseNotHeld(StoreWriteRefused):
    """The lease the store was opened with has expired or was lost."""


class StaleFencingToken(StoreWriteRefused):
    """A newer lease holder has claimed the store since this one did."""


class StoreDeleted(StoreWriteRefused):
    """The store was deleted (the device signed out) while it was open."""


class Fence(Protocol):
    """What the store needs of a lease (`lease.DeviceLease` is one)."""

    @property
    def held(self) -> bool: ...

    @property
    def fencing_token(self) -> int | None: ...


# -- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreKeys:
    """Keys derived from one secret: the pickle passphrase handed to nio/vodozemac, the
    AES-GCM key of stored secrets, and the check value stored to recognise the key."""

    pickle_key: str
    secret_key: bytes
    check: str

    @classmethod
    def derive(cls, material: str) -> StoreKeys:
        if not material:
            raise CryptoStoreError("No key for the crypto store (CRYPTO_STORE_KEY or SECRET_KEY)")

        def hkdf(info: bytes) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
                material.encode()
            )

        return cls(
            pickle_key=base64.urlsafe_b64encode(hkdf(b"webclient crypto store: pickles")).decode(),
            secret_key=hkdf(b"webclient crypto store: secrets"),
            check=hkdf(b"webclient crypto store: key check")[:16].hex(),
        )

    def __repr__(self) -> str:
        return f"StoreKeys(check={self.check!r})"


@cache
def _derived_keys(material: str) -> StoreKeys:
    return StoreKeys.derive(material)


def store_keys() -> StoreKeys:
    """The keys from settings: `CRYPTO_STORE_KEY`, else derived from `SECRET_KEY`."""
    return _derived_keys(settings.CRYPTO_STORE_KEY or settings.SECRET_KEY)


SEALED_FORMAT = "v1."


def encrypt_secret(data: bytes, context: str = "", *, keys: StoreKeys | None = None) -> str:
    """Encrypt a secret (a private key) for storage: AES-256-GCM with the store key.

    `context` is bound to the ciphertext (associated data): decrypting needs the same one,
    so a secret copied to another device's or another name's row does not decrypt."""
    key = (keys or store_keys()).secret_key
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, bytes(data), context.encode())
    return SEALED_FORMAT + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(token: str, context: str = "", *, keys: StoreKeys | None = None) -> bytes:
    """The secret `encrypt_secret` sealed; `CryptoStoreKeyError` if the key or context differ."""
    if not token.startswith(SEALED_FORMAT):
        raise CryptoStoreError("Not a stored secret (unknown format)")
    try:
        raw = base64.urlsafe_b64decode(token[len(SEALED_FORMAT) :].encode())
    except ValueError as exc:
        raise CryptoStoreError("Not a stored secret (bad encoding)") from exc
    key = (keys or store_keys()).secret_key
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode())
    except (InvalidTag, ValueError) as exc:
        raise CryptoStoreKeyError(
            "A stored secret cannot be decrypted: it was encrypted with another "
            "CRYPTO_STORE_KEY (or SECRET_KEY), or belongs to another device or name"
        ) from exc


# -- where a device's store lives -----------------------------------------------------------


def device_key(user_id: str, device_id: str) -> str:
    """The name of a Matrix device for stores and leases (a user ID cannot contain `|`
    after its server name, so this is unambiguous)."""
    return f"{user_id}|{device_id}"


def store_file(user_id: str, device_id: str, directory: Path | None = None) -> Path:
    """The file of a device's store on the embedded default."""
    digest = hashlib.sha256(device_key(user_id, device_id).encode()).hexdigest()[:32]
    return Path(directory or settings.CRYPTO_STORE_DIR) / f"{digest}.sqlite3"


@cache
def _libpq_parameters() -> frozenset[str]:
    return frozenset(option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults())


def postgres_conninfo(db: dict[str, Any]) -> str:
    """A libpq connection string for a Django `DATABASES` entry (its OPTIONS that are not
    libpq parameters, such as `server_side_binding`, are Django's own and left out)."""
    params: dict[str, Any] = {
        "dbname": db.get("NAME") or "",
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
    }
    for name, value in (db.get("OPTIONS") or {}).items():
        if name in _libpq_parameters() and isinstance(value, str | int):
            params[name] = value
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v != ""})


def uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def database_for(user_id: str, device_id: str) -> StoreDatabase:
    """The configured home of a device's store: the shared PostgreSQL database, or a file."""
    if uses_postgres():
        return PostgresDatabase(postgres_conninfo(settings.DATABASES["default"]))
    return FileDatabase(store_file(user_id, device_id))


# -- the two databases ----------------------------------------------------------------------


class Cursor:
    """A DB-API cursor taking `%s` placeholders on both backends."""

    def __init__(self, cursor: Any, qmark: bool) -> None:
        self._cursor = cursor
        self._qmark = qmark

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self._qmark else sql

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(self._sql(sql), params)
        return self._cursor.rowcount

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self._cursor.executemany(self._sql(sql), rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._sql(sql), params)
        return list(self._cursor.fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None


class StoreDatabase:
    """Where stores live; `run(fn, write)` runs `fn(cursor)` in one transaction."""

    location = ""

    def run(self, fn: Callable[[Cursor], T], write: bool) -> T:
        raise NotImplementedError

    def delete(self, user_id: str, device_id: str) -> None:
        """Delete a device's store (nothing happens if there is none)."""
        raise NotImplementedError

    def close(self) -> None:
        """Done with this store (a shared connection stays open for the others)."""


class FileDatabase(StoreDatabase):
    """One device's store in a SQLite file (created on first use, mode 0600)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._connection: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._lock = threading.RLock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
        # Autocommit mode: `run` opens and ends every transaction itself.
        connection = sqlite3.connect(
            self.path, timeout=10, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            # Deleted pickles (old ratchet states, a deleted device) are overwritten on disk.
            connection.execute("PRAGMA secure_delete = ON")
            connection.execute("BEGIN IMMEDIATE")
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    for statement in FILE_SCHEMA.split(";"):
                        if statement.strip():
                            connection.execute(statement)
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                elif version > SCHEMA_VERSION:
                    raise CryptoStoreError(
                        f"The crypto store {self.path} was written by a newer version of "
                        f"this client (schema {version}, this one knows {SCHEMA_VERSION})"
                    )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._identity = self._file_identity()
        return connection

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (info.st_dev, info.st_ino)

    def run(self, fn: Callable[[Cursor], T], write: bool) -> T:
        with self._lock:
            if self._connection is not None and self._file_identity() != self._identity:
                # Deleted (signed out) while open: the connection would go on writing to a
                # file nobody will ever read.
                raise StoreDeleted(f"The crypto store {self.path} was deleted")
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = fn(Cursor(connection.cursor(), qmark=True))
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

    def delete(self, user_id: str, device_id: str) -> None:
        with self._lock:
            self.close()
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class _SharedConnection:
    """One psycopg connection per process and database, used by all stores in turn."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.lock = threading.RLock()
        self._connection: psycopg.Connection | None = None

    def get(self) -> psycopg.Connection:
        connection = self._connection
        if connection is None or connection.closed or connection.broken:
            connection = self._connection = psycopg.connect(self.conninfo, autocommit=True)
        return connection

    def close(self) -> None:
        with self.lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


_shared: dict[str, _SharedConnection] = {}
_shared_lock = threading.Lock()


def _shared_connection(conninfo: str) -> _SharedConnection:
    with _shared_lock:
        if conninfo not in _shared:
            _shared[conninfo] = _SharedConnection(conninfo)
        return _shared[conninfo]


def close_connections() -> None:
    """Close this process's PostgreSQL connections of crypto stores (tests, shutdown)."""
    with _shared_lock:
        shared = list(_shared.values())
        _shared.clear()
    for connection in shared:
        connection.close()


class PostgresDatabase(StoreDatabase):
    """Stores as rows in PostgreSQL, in the tables the migrations of `webclient.matrix`
    create. Every store of the process shares one connection (statements are short)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._shared = _shared_connection(conninfo)
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
        self.location = f"postgresql://{params.get('host', '')}/{params.get('dbname', '')}"
        self._checked = False

    def run(self, fn: Callable[[Cursor], T], write: bool) -> T:
        with self._shared.lock:
            for attempt in (1, 2):
                connection = self._shared.get()
                try:
                    if not self._checked:
                        self._check_schema(connection)
                    with connection.transaction(), connection.cursor() as cursor:
                        return fn(Cursor(cursor, qmark=False))
                except psycopg.OperationalError:
                    # A dropped connection (a database restart): every statement here is
                    # idempotent, so one retry on a fresh connection is safe.
                    if attempt == 1 and connection.broken:
                        continue
                    raise
        raise AssertionError("unreachable")

    def _check_schema(self, connection: psycopg.Connection) -> None:
        row = connection.execute("SELECT to_regclass(%s)", (ACCOUNT,)).fetchone()
        if row is None or row[0] is None:
            raise CryptoStoreError(
                f"The crypto store tables are missing in {self.location}: run `manage.py migrate`"
            )
        self._checked = True

    def delete(self, user_id: str, device_id: str) -> None:
        def delete(cursor: Cursor) -> None:
            # Lock the account row first: every write starts by updating it, so no writer
            # can add rows between the deletes below.
            row = cursor.one(
                "SELECT id FROM matrix_crypto_account WHERE user_id = %s AND device_id = %s"
                " FOR UPDATE",
                (user_id, device_id),
            )
            if row is not None:
                for table in CHILD_TABLES:
                    cursor.run(f"DELETE FROM {table} WHERE account_id = %s", (row[0],))  # noqa: S608
                cursor.run("DELETE FROM matrix_crypto_account WHERE id = %s", (row[0],))
            cursor.run(
                "DELETE FROM matrix_crypto_lease WHERE device_key = %s",
                (device_key(user_id, device_id),),
            )

        self.run(delete, write=True)


# -- the store ------------------------------------------------------------------------------


@dataclass
class CryptoStore(MatrixStore):
    """nio's store of one device, on a `StoreDatabase` (see the module docstring).

    nio creates it as `store(user_id, device_id, store_path, pickle_key, store_name)`; use
    `store_factory()` for that (nio's `pickle_key` and `store_path` are not used: the key
    comes from settings, the place from `database_for`)."""

    backend: StoreDatabase | None = None
    fence: Fence | None = None
    keys: StoreKeys | None = None

    def __post_init__(self) -> None:
        if not self.user_id or not self.device_id:
            raise CryptoStoreError("A crypto store needs a user ID and a device ID")
        self.keys = self.keys or store_keys()
        self.pickle_key = self.keys.pickle_key
        self.backend = self.backend or database_for(self.user_id, self.device_id)
        self.database = None  # nio's peewee database: not used
        self.database_path = self.backend.location
        self.database_name = device_key(self.user_id, self.device_id)
        self._account_id: int = self.backend.run(self._open, write=True)

    def __repr__(self) -> str:
        return f"CryptoStore({self.user_id!r}, {self.device_id!r}, {self.database_path!r})"

    def _describe(self) -> str:
        return f"The crypto store of {self.user_id} ({self.device_id}) in {self.database_path}"

    # -- opening, fencing, transactions ----------------------------------------------------

    def _token(self) -> int | None:
        """The fencing token to write with; refuses when the lease is no longer held."""
        if self.fence is None:
            return None
        token = self.fence.fencing_token
        if not self.fence.held or token is None:
            raise LeaseNotHeld(f"{self._describe()}: this process's lease is not held")
        return token

    def _open(self, cursor: Cursor) -> int:
        token = self._token()
        select = (
            "SELECT id, key_check, fence FROM matrix_crypto_account"
            " WHERE user_id = %s AND device_id = %s"
        )
        row = cursor.one(select, (self.user_id, self.device_id))
        if row is None:
            cursor.run(
                "INSERT INTO matrix_crypto_account"
                " (user_id, device_id, account, shared, fence, key_check, sync_token)"
                " VALUES (%s, %s, NULL, %s, %s, %s, '')"
                " ON CONFLICT (user_id, device_id) DO NOTHING",
                (self.user_id, self.device_id, False, token or 0, self.keys.check),
            )
            row = cursor.one(select, (self.user_id, self.device_id))
            assert row is not None
        account_id, check, fence = row
        if check != self.keys.check:
            raise CryptoStoreKeyError(
                f"{self._describe()} was written with another key: set CRYPTO_STORE_KEY (or "
                "SECRET_KEY) back to the one it was written with, or delete the store and sign "
                "the device in again"
            )
        if token is not None:
            claimed = cursor.run(
                "UPDATE matrix_crypto_account SET fence = %s WHERE id = %s AND fence <= %s",
                (token, account_id, token),
            )
            if claimed != 1:
                raise StaleFencingToken(
                    f"{self._describe()}: fencing token {token} is older than {fence}, "
                    "the newest that claimed it"
                )
        return account_id

    def _read(self, fn: Callable[[Cursor], T]) -> T:
        return self.backend.run(fn, write=False)

    def _write(self, fn: Callable[[Cursor], T]) -> T:
        token = self._token()

        def fenced(cursor: Cursor) -> T:
            if token is None:
                updated = cursor.run(
                    "UPDATE matrix_crypto_account SET fence = fence WHERE id = %s",
                    (self._account_id,),
                )
            else:
                # The row lock this takes orders all writers of the device; a newer holder's
                # claim (a higher fence) makes this update match nothing.
                updated = cursor.run(
                    "UPDATE matrix_crypto_account SET fence = %s WHERE id = %s AND fence <= %s",
                    (token, self._account_id, token),
                )
            if updated != 1:
                row = cursor.one(
                    "SELECT fence FROM matrix_crypto_account WHERE id = %s", (self._account_id,)
                )
                if row is None:
                    raise StoreDeleted(f"{self._describe()} was deleted")
                raise StaleFencingToken(
                    f"{self._describe()}: write refused, fencing token {token} is older than "
                    f"{row[0]}: another process drives this device now"
                )
            return fn(cursor)

        return self.backend.run(fenced, write=True)

    def _unpickle(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except Exception as exc:
            # The key was checked when the store was opened: this is damage, not a wrong key.
            raise CryptoStoreError(f"{self._describe()}: cannot read a pickled {what}") from exc

    def newest_fence(self) -> int | None:
        """The newest fencing token that claimed this store (None: the store was deleted)."""
        row = self._read(
            lambda c: c.one(
                "SELECT fence FROM matrix_crypto_account WHERE id = %s", (self._account_id,)
            )
        )
        return row[0] if row else None

    def close(self) -> None:
        self.backend.close()

    # -- the olm account -------------------------------------------------------------------

    def _get_account(self) -> None:  # nio's peewee helper: not used here
        raise NotImplementedError

    def load_account(self) -> OlmAccount | None:
        row = self._read(
            lambda c: c.one(
                "SELECT account, shared FROM matrix_crypto_account WHERE id = %s",
                (self._account_id,),
            )
        )
        if row is None:
            raise StoreDeleted(f"{self._describe()} was deleted")
        pickle, shared = row
        if pickle is None:
            return None
        return self._unpickle(
            "olm account",
            lambda: OlmAccount.from_pickle(bytes(pickle), self.pickle_key, bool(shared)),
        )

    def save_account(self, account: OlmAccount) -> None:
        pickle = account.pickle(self.pickle_key)
        self._write(
            lambda c: c.run(
                "UPDATE matrix_crypto_account SET account = %s, shared = %s WHERE id = %s",
                (pickle, bool(account.shared), self._account_id),
            )
        )

    # -- olm sessions ----------------------------------------------------------------------

    def load_sessions(self) -> SessionStore:
        rows = self._read(
            lambda c: c.all(
                "SELECT sender_key, session, creation_time, use_time"
                " FROM matrix_crypto_olm_session WHERE account_id = %s ORDER BY id",
                (self._account_id,),
            )
        )
        store = SessionStore()
        for sender_key, pickle, created, used in rows:
            session = self._unpickle(
                "olm session",
                lambda p=pickle, c=created, u=used: Session.from_pickle(
                    bytes(p),
                    datetime.fromtimestamp(c),
                    self.pickle_key,
                    use_time=datetime.fromtimestamp(u),
                ),
            )
            store.add(sender_key, session)
        return store

    def save_session(self, curve_key: str, session: Session) -> None:
        row = (
            self._account_id,
            session.id,
            curve_key,
            session.pickle(self.pickle_key),
            session.creation_time.timestamp(),
            session.use_time.timestamp(),
        )
        self._write(
            lambda c: c.run(
                "INSERT INTO matrix_crypto_olm_session"
                " (account_id, session_id, sender_key, session, creation_time, use_time)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account_id, session_id) DO UPDATE SET"
                " sender_key = excluded.sender_key, session = excluded.session,"
                " use_time = excluded.use_time",
                row,
            )
        )

    # -- megolm inbound sessions (room keys) -----------------------------------------------

    def load_inbound_group_sessions(self) -> GroupSessionStore:
        rows = self._read(
            lambda c: c.all(
                "SELECT room_id, sender_key, signing_key, session, forwarding_chain"
                " FROM matrix_crypto_group_session WHERE account_id = %s ORDER BY id",
                (self._account_id,),
            )
        )
        store = GroupSessionStore()
        for room_id, sender_key, signing_key, pickle, chain in rows:
            session = self._unpickle(
                "room key",
                lambda r=room_id, s=sender_key, k=signing_key, p=pickle, f=chain: (
                    InboundGroupSession.from_pickle(
                        bytes(p), k, s, r, self.pickle_key, json.loads(f)
                    )
                ),
            )
            store.add(session)
        return store

    def save_inbound_group_session(self, session: InboundGroupSession) -> None:
        row = (
            self._account_id,
            session.room_id,
            session.sender_key,
            session.id,
            session.ed25519,
            session.pickle(self.pickle_key),
            json.dumps(list(session.forwarding_chain)),
        )
        self._write(
            lambda c: c.run(
                "INSERT INTO matrix_crypto_group_session (account_id, room_id, sender_key,"
                " session_id, signing_key, session, forwarding_chain)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account_id, room_id, sender_key, session_id) DO UPDATE SET"
                " session = excluded.session, forwarding_chain = excluded.forwarding_chain",
                row,
            )
        )

    # -- other devices' keys and trust -----------------------------------------------------

    def load_device_keys(self) -> DeviceStore:
        rows = self._read(
            lambda c: c.all(
                "SELECT user_id, device_id, display_name, deleted, keys, trust_state"
                " FROM matrix_crypto_device WHERE account_id = %s ORDER BY id",
                (self._account_id,),
            )
        )
        store = DeviceStore()
        for user_id, device_id, display_name, deleted, keys, trust in rows:
            store.add(
                OlmDevice(
                    user_id,
                    device_id,
                    json.loads(keys),
                    display_name=display_name,
                    deleted=bool(deleted),
                    trust_state=TrustState(trust),
                )
            )
        return store

    def save_device_keys(self, device_keys: dict[str, dict[str, OlmDevice]]) -> None:
        rows = [
            (
                self._account_id,
                user_id,
                device_id,
                device.display_name or "",
                bool(device.deleted),
                json.dumps(device.keys, sort_keys=True),
                TrustState.unset.value,
            )
            for user_id, devices in device_keys.items()
            for device_id, device in devices.items()
        ]
        if not rows:
            return
        self._write(
            lambda c: c.many(
                "INSERT INTO matrix_crypto_device (account_id, user_id, device_id, display_name,"
                " deleted, keys, trust_state)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account_id, user_id, device_id) DO UPDATE SET"
                " display_name = excluded.display_name, deleted = excluded.deleted,"
                " keys = excluded.keys",
                rows,
            )
        )

    def _trust(self, device: OlmDevice) -> TrustState:
        row = self._read(
            lambda c: c.one(
                "SELECT trust_state FROM matrix_crypto_device"
                " WHERE account_id = %s AND user_id = %s AND device_id = %s",
                (self._account_id, device.user_id, device.id),
            )
        )
        return TrustState(row[0]) if row else TrustState.unset

    def _set_trust(self, devices: Sequence[OlmDevice], state: TrustState) -> None:
        rows = [
            (
                self._account_id,
                d.user_id,
                d.id,
                d.display_name or "",
                bool(d.deleted),
                json.dumps(d.keys, sort_keys=True),
                state.value,
            )
            for d in devices
        ]
        self._write(
            lambda c: c.many(
                "INSERT INTO matrix_crypto_device (account_id, user_id, device_id, display_name,"
                " deleted, keys, trust_state)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account_id, user_id, device_id) DO UPDATE SET"
                " trust_state = excluded.trust_state",
                rows,
            )
        )
        for device in devices:
            device.trust_state = state

    def _change_trust(
        self, device: OlmDevice, to: TrustState, only_from: TrustState | None
    ) -> bool:
        current = self._trust(device)
        if current == to or (only_from is not None and current != only_from):
            return False
        self._set_trust([device], to)
        return True

    def verify_device(self, device: OlmDevice) -> bool:
        return self._change_trust(device, TrustState.verified, None)

    def unverify_device(self, device: OlmDevice) -> bool:
        return self._change_trust(device, TrustState.unset, TrustState.verified)

    def is_device_verified(self, device: OlmDevice) -> bool:
        return self._trust(device) == TrustState.verified

    def blacklist_device(self, device: OlmDevice) -> bool:
        return self._change_trust(device, TrustState.blacklisted, None)

    def unblacklist_device(self, device: OlmDevice) -> bool:
        return self._change_trust(device, TrustState.unset, TrustState.blacklisted)

    def is_device_blacklisted(self, device: OlmDevice) -> bool:
        return self._trust(device) == TrustState.blacklisted

    def ignore_device(self, device: OlmDevice) -> bool:
        return self._change_trust(device, TrustState.ignored, None)

    def unignore_device(self, device: OlmDevice) -> bool:
        return self._change_trust(device, TrustState.unset, TrustState.ignored)

    def ignore_devices(self, devices: list[OlmDevice]) -> None:
        if devices:
            self._set_trust(devices, TrustState.ignored)

    def is_device_ignored(self, device: OlmDevice) -> bool:
        return self._trust(device) == TrustState.ignored

    # -- encrypted rooms, key requests, sync token ----------------------------------------

    def load_encrypted_rooms(self) -> set[str]:
        rows = self._read(
            lambda c: c.all(
                "SELECT room_id FROM matrix_crypto_encrypted_room WHERE account_id = %s",
                (self._account_id,),
            )
        )
        return {room_id for (room_id,) in rows}

    def save_encrypted_rooms(self, rooms: Iterable[str]) -> None:
        rows = [(self._account_id, room_id) for room_id in rooms]
        if rows:
            self._write(
                lambda c: c.many(
                    "INSERT INTO matrix_crypto_encrypted_room (account_id, room_id)"
                    " VALUES (%s, %s) ON CONFLICT (account_id, room_id) DO NOTHING",
                    rows,
                )
            )

    def delete_encrypted_room(self, room: str) -> None:
        self._write(
            lambda c: c.run(
                "DELETE FROM matrix_crypto_encrypted_room WHERE account_id = %s AND room_id = %s",
                (self._account_id, room),
            )
        )

    def load_outgoing_key_requests(self) -> dict[str, OutgoingKeyRequest]:
        rows = self._read(
            lambda c: c.all(
                "SELECT request_id, session_id, room_id, algorithm"
                " FROM matrix_crypto_key_request WHERE account_id = %s ORDER BY id",
                (self._account_id,),
            )
        )
        return {row[0]: OutgoingKeyRequest(*row) for row in rows}

    def add_outgoing_key_request(self, key_request: OutgoingKeyRequest) -> None:
        row = (
            self._account_id,
            key_request.request_id,
            key_request.session_id,
            key_request.room_id,
            key_request.algorithm,
        )
        self._write(
            lambda c: c.run(
                "INSERT INTO matrix_crypto_key_request"
                " (account_id, request_id, session_id, room_id, algorithm)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account_id, request_id) DO NOTHING",
                row,
            )
        )

    def remove_outgoing_key_request(self, key_request: OutgoingKeyRequest) -> None:
        self._write(
            lambda c: c.run(
                "DELETE FROM matrix_crypto_key_request WHERE account_id = %s AND request_id = %s",
                (self._account_id, key_request.request_id),
            )
        )

    def save_sync_token(self, token: str) -> None:
        self._write(
            lambda c: c.run(
                "UPDATE matrix_crypto_account SET sync_token = %s WHERE id = %s",
                (token, self._account_id),
            )
        )

    def load_sync_token(self) -> str | None:
        row = self._read(
            lambda c: c.one(
                "SELECT sync_token FROM matrix_crypto_account WHERE id = %s", (self._account_id,)
            )
        )
        return (row[0] or None) if row else None

    # -- secrets the device keeps (not used by nio) ----------------------------------------

    def _secret_context(self, name: str) -> str:
        return f"{device_key(self.user_id, self.device_id)}\n{name}"

    def save_secret(self, name: str, value: bytes) -> None:
        """Keep a secret of this device (e.g. the cross-signing self-signing private key,
        the backup key), encrypted with the store key and bound to this device and name."""
        sealed = encrypt_secret(value, self._secret_context(name), keys=self.keys)
        self._write(
            lambda c: c.run(
                "INSERT INTO matrix_crypto_secret (account_id, name, value) VALUES (%s, %s, %s)"
                " ON CONFLICT (account_id, name) DO UPDATE SET value = excluded.value",
                (self._account_id, name, sealed),
            )
        )

    def load_secret(self, name: str) -> bytes | None:
        row = self._read(
            lambda c: c.one(
                "SELECT value FROM matrix_crypto_secret WHERE account_id = %s AND name = %s",
                (self._account_id, name),
            )
        )
        if row is None:
            return None
        return decrypt_secret(row[0], self._secret_context(name), keys=self.keys)

    def delete_secret(self, name: str) -> bool:
        deleted = self._write(
            lambda c: c.run(
                "DELETE FROM matrix_crypto_secret WHERE account_id = %s AND name = %s",
                (self._account_id, name),
            )
        )
        return deleted > 0

    # -- nio's peewee plumbing, not used ---------------------------------------------------

    def _create_database(self) -> None:
        raise NotImplementedError

    def upgrade_to_v2(self) -> None:
        raise NotImplementedError

    def _get_store_version(self) -> int:
        return SCHEMA_VERSION

    def _update_version(self, new_version: int) -> None:
        raise NotImplementedError


# -- making and deleting stores -------------------------------------------------------------


class StoreFactory:
    """What nio's `AsyncClientConfig(store=...)` wants: a callable taking
    `(user_id, device_id, store_path, pickle_key, store_name)`. `store_path` is what to give
    `AsyncClient(store_path=...)` (nio loads no store without one; this one ignores it)."""

    def __init__(
        self,
        lease: Fence | None = None,
        database: StoreDatabase | None = None,
        keys: StoreKeys | None = None,
    ) -> None:
        self.lease = lease
        self.database = database
        self.keys = keys
        self.store_path = str(settings.CRYPTO_STORE_DIR)

    def __call__(
        self,
        user_id: str,
        device_id: str,
        store_path: str = "",
        pickle_key: str = "",
        store_name: str = "",
    ) -> CryptoStore:
        return CryptoStore(
            user_id, device_id, store_path, backend=self.database, fence=self.lease, keys=self.keys
        )


def store_factory(
    *,
    lease: Fence | None = None,
    database: StoreDatabase | None = None,
    keys: StoreKeys | None = None,
) -> StoreFactory:
    """A store class for nio: `AsyncClientConfig(store=factory)` and
    `AsyncClient(..., store_path=factory.store_path)`. Pass the device's lease: the store
    then refuses writes once another process holds the device."""
    return StoreFactory(lease, database, keys)


def open_store(
    user_id: str,
    device_id: str,
    *,
    lease: Fence | None = None,
    database: StoreDatabase | None = None,
    keys: StoreKeys | None = None,
) -> CryptoStore:
    """A device's store, outside nio (to read or keep secrets, for instance)."""
    return CryptoStore(user_id, device_id, "", backend=database, fence=lease, keys=keys)


def delete_store(user_id: str, device_id: str, *, database: StoreDatabase | None = None) -> None:
    """Delete a device's crypto store (its file, or its rows and lease row)."""
    (database or database_for(user_id, device_id)).delete(user_id, device_id)


def forget_credential(credential: Any) -> None:
    """A `Credential` was deleted: delete its device's store once that commits, unless
    another credential of this client is the same Matrix device."""
    from django.db import transaction

    from ..models import Credential

    user_id, device_id = credential.user_id, credential.device_id
    if not device_id:
        return
    others = Credential.objects.filter(user_id=user_id, device_id=device_id)
    if others.exclude(pk=credential.pk).exists():
        return

    def delete() -> None:
        try:
            delete_store(user_id, device_id)
        except Exception:
            logger.exception("deleting the crypto store of %s (%s) failed", user_id, device_id)

    transaction.on_commit(delete)
