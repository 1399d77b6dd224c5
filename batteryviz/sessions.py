"""Login sessions kept on the server, so that logging out, a new password or a removed user
ends them at once.

A signed cookie alone cannot be taken back: Panel's ``user`` cookie, replayed after logout or
after the user was removed from the credentials file, still opened the workspace for a day.
With a :class:`SessionStore` the browser holds a random session token (in a signed cookie);
the server keeps, per session, a file named by the token's SHA-256 (the token itself is never
stored) with the user, when it started and was last used, and a fingerprint of the user's
stored password hash. A session is valid while its file exists, it was used within
:data:`IDLE_S`, it is younger than :data:`MAX_AGE_S`, and the user's password hash is still
the one it was opened with. Logging out deletes the file; ``batteryviz user add`` (a new
password) and removing the user end every session of that user on their next request.

The folder is shared by every server process of a deployment (next to the credentials file by
default), so a session ended in one process is ended in all.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path

#: A session unused for this long ends (seconds); each request within it renews it.
IDLE_S = 8 * 3600
#: A session ends this long after login whatever its use (seconds).
MAX_AGE_S = 7 * 24 * 3600
#: The last-use time is written at most this often per session (seconds).
RENEW_EVERY_S = 300


def fingerprint(stored_hash: str) -> str:
    """A fingerprint of a user's stored password hash (changes when the password does)."""
    return hashlib.sha256(f"batteryviz session\0{stored_hash}".encode()).hexdigest()[:32]


class SessionStore:
    """Server-side sessions in ``folder`` (created with mode 700)."""

    def __init__(
        self,
        folder: str | os.PathLike,
        idle_s: float = IDLE_S,
        max_age_s: float = MAX_AGE_S,
        clock=time.time,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.idle_s, self.max_age_s, self.clock = idle_s, max_age_s, clock

    def _file(self, token: str) -> Path:
        return self.folder / f"{hashlib.sha256(token.encode()).hexdigest()}.json"

    def _write(self, path: Path, record: dict) -> None:
        from .export import atomic_path

        with atomic_path(path) as tmp:  # created with mode 600 (mkstemp)
            tmp.write_text(json.dumps(record), encoding="utf-8")

    def create(self, user: str, stored_hash: str) -> str:
        """Open a session of ``user``; returns its token (for the browser's cookie only)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self._write(
            self._file(token),
            {"user": user, "fingerprint": fingerprint(stored_hash), "started": now, "seen": now},
        )
        return token

    def user_of(self, token: str | None, stored_hash_of) -> str | None:
        """The user of a valid session, else ``None`` (an ended session's file is removed).
        ``stored_hash_of(user)`` gives the user's current password hash, ``None`` if removed."""
        if not token or len(token) > 100:
            return None
        path = self._file(token)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            user = str(record["user"])
            started, seen = float(record["started"]), float(record["seen"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        now = self.clock()
        current = stored_hash_of(user)
        if (
            current is None
            or fingerprint(current) != record.get("fingerprint")
            or now - seen > self.idle_s
            or now - started > self.max_age_s
        ):
            path.unlink(missing_ok=True)
            return None
        if now - seen > RENEW_EVERY_S:
            record["seen"] = now
            self._write(path, record)
        return user

    def revoke(self, token: str | None) -> None:
        """End one session (logout)."""
        if token and len(token) <= 100:
            self._file(token).unlink(missing_ok=True)

    def purge(self, stored_hash_of) -> int:
        """Remove the files of ended sessions; returns how many (called at server start)."""
        removed = 0
        now = self.clock()
        for path in self.folder.glob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                current = stored_hash_of(record["user"])
                ended = (
                    current is None
                    or fingerprint(current) != record.get("fingerprint")
                    or now - float(record["seen"]) > self.idle_s
                    or now - float(record["started"]) > self.max_age_s
                )
            except (OSError, ValueError, KeyError, TypeError):
                ended = True
            if ended:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
