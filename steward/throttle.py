"""Sign-in throttling: failed passwords are counted per user name and per client address.

After `USER_LIMIT` (5) failures for one user name within `WINDOW_SECONDS` (15 minutes), that name is refused
for `WINDOW_SECONDS`; every further lockout of the same name doubles the delay (30 minutes, 1 hour, ... at
most `MAX_DELAY_SECONDS`, a day). One client address is allowed `ADDRESS_LIMIT` (20) failures over any
names in the window (guessing one password for many names), then refused the same way. While refused, the
sign-in answers 429 without even checking the password, so the right password does not get in either. A
successful sign-in clears the counts of that name and that address.

An attempt counts as a failure *before* its password is checked (and is cleared if it turns out right), so
guesses sent in parallel cannot slip past the limit while scrypt is busy. The counts are kept in memory, per
app process (the app runs one): a restart forgets them, which only an operator can cause. The clock is
injectable (tests) and monotonic by default.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

USER_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_SECONDS = 15 * 60
MAX_DELAY_SECONDS = 24 * 3600
FORGET_SECONDS = 24 * 3600  # a name or address without failures for this long starts afresh
MAX_ENTRIES = 10_000  # beyond this, entries that are neither refused nor recent are dropped first


@dataclass
class _Entry:
    failures: list[float] = field(default_factory=list)
    lockouts: int = 0
    refused_until: float = 0.0
    last_failure: float = 0.0


def retry_text(seconds: float) -> str:
    """The 429 message: when to try again, in whole minutes (Chinese first, English after)."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"登录尝试过多，请在 {minutes} 分钟后重试 (Too many sign-in attempts; retry in {minutes} minutes)"


class SignInThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic, user_limit: int = USER_LIMIT,
                 address_limit: int = ADDRESS_LIMIT, window: float = WINDOW_SECONDS):
        self.clock = clock
        self.limits = {"user": user_limit, "address": address_limit}
        self.window = window
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def _keys(self, user: str, address: str) -> list[tuple[str, str]]:
        return [("user", user), ("address", address)]

    def attempt(self, user: str, address: str) -> float:
        """0 if this sign-in may go ahead (it is counted as a failure until `succeeded`), else the seconds to
        wait before trying again (nothing is counted then)."""
        now = self.clock()
        with self._lock:
            wait = max((self._entries[k].refused_until - now for k in self._keys(user, address)
                        if k in self._entries), default=0.0)
            if wait > 0:
                return wait
            for key in self._keys(user, address):
                self._fail(key, now)
            self._forget(now)
        return 0.0

    def _fail(self, key: tuple[str, str], now: float) -> None:
        entry = self._entries.setdefault(key, _Entry())
        if now - entry.last_failure > FORGET_SECONDS:
            entry.lockouts = 0
        entry.failures = [t for t in entry.failures if now - t < self.window]
        entry.failures.append(now)
        entry.last_failure = now
        if len(entry.failures) >= self.limits[key[0]]:
            entry.lockouts += 1
            entry.refused_until = now + min(self.window * 2 ** (entry.lockouts - 1), MAX_DELAY_SECONDS)
            entry.failures = []

    def succeeded(self, user: str, address: str) -> None:
        """The password was right: that name and that address start afresh."""
        with self._lock:
            for key in self._keys(user, address):
                self._entries.pop(key, None)

    def _forget(self, now: float) -> None:
        if len(self._entries) <= MAX_ENTRIES:
            return
        stale = [k for k, e in self._entries.items() if e.refused_until <= now and now - e.last_failure > self.window]
        for key in stale:
            del self._entries[key]
        if len(self._entries) > MAX_ENTRIES:  # a flood of names: keep the refused ones, drop the oldest others
            others = sorted((e.last_failure, k) for k, e in self._entries.items() if e.refused_until <= now)
            for _, key in others[:len(self._entries) - MAX_ENTRIES]:
                del self._entries[key]
