"""Who may sign in to the steward app: the users file named by `PREFAB_STEWARD_USERS_FILE`.

One line per user, `name:role:hash`, where the hash is `scrypt$<n>$<r>$<p>$<salt hex>$<key hex>` (hashlib.scrypt
with a random 16-byte salt per user). Roles: `steward` may take decisions; `viewer` may only look. There is
no default user and no default password: `python -m steward add-user NAME --role steward` writes a line after
prompting for the password. The file is written with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

ROLES = ("steward", "viewer")
DECIDING_ROLE = "steward"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 10
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def may_decide(self) -> bool:
        return self.role == DECIDING_ROLE


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(bytes.fromhex(key)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, bytes.fromhex(key))


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # unknown names cost as much as wrong passwords


def load_users(path: Path) -> dict[str, tuple[str, str]]:
    """name -> (role, hash); ValueError naming the line if the file is malformed. A missing file: no users."""
    if not path.exists():
        return {}
    users: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not NAME_RE.match(parts[0]) or parts[1] not in ROLES or \
                not parts[2].startswith("scrypt$"):
            raise ValueError(f"{path}, line {number}: expected 'name:role:scrypt-hash' with role one of "
                             f"{', '.join(ROLES)}")
        users[parts[0]] = (parts[1], parts[2])
    return users


def authenticate(path: Path, name: str, password: str) -> User | None:
    """The user if the name and password match a line of the users file, else None."""
    entry = load_users(path).get(name or "")
    ok = verify_password(password or "", entry[1] if entry else _DUMMY_HASH)
    return User(name, entry[0]) if entry and ok else None


def add_user(path: Path, name: str, role: str, password: str) -> None:
    """Add the user, or replace its role and password; the other lines are kept as they were."""
    if not NAME_RE.match(name or ""):
        raise ValueError("a user name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    load_users(path)  # refuse to rewrite a malformed file
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept = [line for line in lines if line.split(":", 1)[0].strip() != name]
    kept.append(f"{name}:{role}:{hash_password(password)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    os.replace(tmp, path)
