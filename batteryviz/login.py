"""Checking passwords without letting anyone stall the server or guess them quickly.

A password check costs ~0.1 s of CPU (PBKDF2-SHA256, 600,000 iterations: slow on purpose). Run
on the server's event loop, eight anonymous login attempts at once held every user's page for
1.7 s; with no limit, a password could be guessed at 8 attempts a second, and the time of a
failure told whether the user existed (0.1 s for a known user, 1 ms for an unknown one). So:

* checks run in a small pool of threads (:data:`HASH_THREADS`; hashlib releases the interpreter
  lock while hashing), never on the event loop, and at most :data:`MAX_PENDING` wait for it: more
  are refused at once ("busy") instead of queueing without end;
* an unknown user is checked against a dummy hash, so every failure costs the same time;
* failures are counted per account and per client address (behind a proxy, serve with
  ``--use-xheaders`` so the address is the browser's); after :data:`FREE_FAILURES` (per
  address :data:`ADDRESS_FREE_FAILURES`) each
  further attempt must wait twice as long as the last (1 s, 2 s, 4 s … up to
  :data:`MAX_BACKOFF_S`); while waiting, even the right password is refused, so guessing stays
  slow. A success clears the account's count (not the address's). An administrator lifts an
  account's wait by setting a new password (``batteryviz user add``): counts are kept per
  stored password hash.

The counts live in the server process (a restart clears them; with several server processes
each counts its own — the proxy keeps a browser on one).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

#: PBKDF2-SHA256 iterations of a stored password hash.
PBKDF2_ITERATIONS = 600_000
#: Threads hashing passwords (each check holds one core for ~0.1 s).
HASH_THREADS = 2
#: Password checks waiting for a thread, beyond which new attempts are refused at once.
MAX_PENDING = 8
#: Failed attempts allowed before waits start, per account and per client address (an address
#: may be a whole lab behind one gateway, so it gets more).
FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
#: The longest wait between attempts after failures (seconds).
MAX_BACKOFF_S = 15 * 60
#: Failure records kept (the oldest are forgotten beyond this: memory stays bounded whatever
#: number of names or addresses an attacker uses).
MAX_TRACKED = 10_000


def hash_password(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<hash>`` (base64) of ``password``."""
    if not password:
        raise ValueError("a password must not be empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return "$".join(
        [
            "pbkdf2_sha256",
            str(iterations),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash from :func:`hash_password` (constant-time compare)."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations)
        )
    except (ValueError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(got, expected)


class LoginRefused(Exception):
    """An attempt refused before its password was checked; ``str()`` says why and when to retry."""


@dataclass
class _Failures:
    count: int = 0
    next_allowed: float = 0.0
    key: str = ""


@dataclass
class LoginGuard:
    """Bounded, rate-limited password checks (one per server process)."""

    threads: int = HASH_THREADS
    max_pending: int = MAX_PENDING
    free_failures: int = FREE_FAILURES
    address_free_failures: int = ADDRESS_FREE_FAILURES
    max_backoff_s: float = MAX_BACKOFF_S
    clock: object = time.monotonic
    _pending: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _accounts: dict = field(default_factory=dict)
    _addresses: dict = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _dummy: str | None = None

    # -- limits ---------------------------------------------------------------------------------
    def _wait_left(self, table: dict, name: str, key: str = "") -> float:
        entry = table.get(name)
        if entry is None or (key and entry.key != key):
            return 0.0
        return max(0.0, entry.next_allowed - self.clock())

    def _fail(self, table: dict, name: str, free: int, key: str = "") -> None:
        entry = table.get(name)
        if entry is None or (key and entry.key != key):
            if len(table) >= MAX_TRACKED:
                table.pop(next(iter(table)))
            entry = table[name] = _Failures(key=key)
        entry.count += 1
        if entry.count >= free:
            wait = min(self.max_backoff_s, 2.0 ** (entry.count - free))
            entry.next_allowed = self.clock() + wait

    def check_allowed(self, username: str, address: str, key: str = "") -> None:
        """Raise :class:`LoginRefused` when the account or the address must still wait."""
        with self._lock:
            wait = max(
                self._wait_left(self._accounts, username, key),
                self._wait_left(self._addresses, address),
            )
        if wait > 0:
            raise LoginRefused(f"Too many failed logins: try again in {math.ceil(wait)} s.")

    def record(self, username: str, address: str, ok: bool, key: str = "") -> None:
        with self._lock:
            if ok:
                self._accounts.pop(username, None)
            else:
                self._fail(self._accounts, username, self.free_failures, key)
                self._fail(self._addresses, address, self.address_free_failures)

    # -- checking -------------------------------------------------------------------------------
    def dummy_hash(self) -> str:
        """A hash to check unknown users against, so that their failure takes as long."""
        if self._dummy is None:
            self._dummy = hash_password("not a password of anybody")
        return self._dummy

    async def verify(self, password: str, stored: str | None) -> bool:
        """Whether ``password`` matches ``stored`` (``None``: an unknown user, always False after
        the same work), checked in the guard's threads; :class:`LoginRefused` when too many
        checks wait already."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise LoginRefused(
                    "The server is busy checking other logins: try again in a few seconds."
                )
            self._pending += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix="batteryviz-login"
                )

        def check() -> bool:  # in a guard thread: the dummy hash is made there too, once
            return verify_password(password, stored if stored is not None else self.dummy_hash())

        try:
            ok = await asyncio.get_running_loop().run_in_executor(self._pool, check)
            return ok and stored is not None
        finally:
            with self._lock:
                self._pending -= 1
