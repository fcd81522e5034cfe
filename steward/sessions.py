"""Server-side sessions of the steward app, and the users file as it is now.

The signed session cookie (Starlette's SessionMiddleware) carries only a random session id and the CSRF
token; who is signed in is the server's record of that id. Signing out deletes the record, so a copy of the
cookie taken before is worth nothing afterwards; so does removing the user from the users file or changing
their password. The role is never taken from the session: every request reads it from the users file
(re-read whenever the file changes), so a steward downgraded to viewer is refused a decision on the next
request.

The records live in a small SQLite file, `PREFAB_DATA_DIR/steward_sessions.sqlite3` (mode 0600), rather than
in memory: a restart of the app does not sign everybody out, a sign-out survives a restart (an in-memory
list would forget it, and a JSON file would need its own locking), and SQLite's own locking keeps it right if
the app is ever run with several worker processes (today `python -m steward` runs one uvicorn process). Only
a SHA-256 of each session id is stored, so the file does not hold usable cookies. A session ends at the
latest `max_age` seconds after sign-in, whatever the cookie says.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from steward.auth import User, load_users

SCHEMA = """
create table if not exists sessions (
    id_hash text primary key,   -- sha256 of the session id in the cookie
    user text not null,
    credential text not null,   -- fingerprint of the user's password hash at sign-in
    created_at real not null,
    expires_at real not null
)"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def credential_fingerprint(password_hash: str) -> str:
    """What a session remembers of the user's password hash: a new password (a new hash) ends old sessions."""
    return _digest("credential:" + password_hash)[:32]


@dataclass(frozen=True)
class SessionRecord:
    user: str
    credential: str
    created_at: float
    expires_at: float


class SessionStore:
    """Session records in a SQLite file; every call opens its own short connection (thread- and process-safe)."""

    def __init__(self, path: Path, max_age: float, clock: Callable[[], float] = time.time):
        self.path = path
        self.max_age = max_age
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # created private before SQLite opens it
        with closing(self._connect()) as con:
            con.execute("pragma journal_mode=wal")
            con.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def create(self, user: str, credential: str) -> str:
        """A new session for `user`; returns the id to put in the cookie. Expired records are purged."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with closing(self._connect()) as con:
            con.execute("delete from sessions where expires_at <= ?", [now])
            con.execute("insert into sessions values (?, ?, ?, ?, ?)",
                        [_digest(session_id), user, credential, now, now + self.max_age])
        return session_id

    def get(self, session_id: str | None) -> SessionRecord | None:
        """The live record of a session id, or None (unknown, signed out or expired)."""
        if not session_id or not isinstance(session_id, str):
            return None
        with closing(self._connect()) as con:
            row = con.execute("select user, credential, created_at, expires_at from sessions where id_hash = ?",
                              [_digest(session_id)]).fetchone()
        if row is None or row[3] <= self.clock():
            return None
        return SessionRecord(*row)

    def delete(self, session_id: str | None) -> None:
        if session_id and isinstance(session_id, str):
            with closing(self._connect()) as con:
                con.execute("delete from sessions where id_hash = ?", [_digest(session_id)])

    def delete_user(self, user: str) -> int:
        """End every session of `user`; returns how many there were."""
        with closing(self._connect()) as con:
            return con.execute("delete from sessions where user = ?", [user]).rowcount


class UsersFile:
    """The users file as it is now: parsed again whenever its modification time, size or inode change (add-user
    replaces the file, so its inode changes; an editor's save changes its mtime)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._users: dict[str, tuple[str, str]] = {}

    def current(self) -> dict[str, tuple[str, str]]:
        """name -> (role, hash); ValueError if the file has become malformed (nobody is let in then)."""
        try:
            st = self.path.stat()
            stamp: tuple | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp or self._stamp is None:
                self._users = load_users(self.path) if stamp else {}
                self._stamp = stamp
            return self._users


class Sessions:
    """Sign-in, sign-out and who is signed in, for the app: the store plus the users file."""

    def __init__(self, store: SessionStore, users: UsersFile):
        self.store = store
        self.users = users

    def sign_in(self, user: User) -> str:
        entry = self.users.current().get(user.name)  # (removed meanwhile: the session ends on its first use)
        return self.store.create(user.name, credential_fingerprint(entry[1] if entry else ""))

    def sign_out(self, session_id: str | None) -> None:
        self.store.delete(session_id)

    def user(self, session_id: str | None) -> User | None:
        """The signed-in user with the role the users file gives now; None (and the record deleted) if the
        session is unknown or expired, or the user has been removed or has a new password."""
        record = self.store.get(session_id)
        if record is None:
            return None
        entry = self.users.current().get(record.user)
        if entry is None:
            self.store.delete_user(record.user)
            return None
        if credential_fingerprint(entry[1]) != record.credential:
            self.store.delete(session_id)
            return None
        return User(record.user, entry[0])
