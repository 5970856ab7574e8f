"""The running server's address and operator token, in a file beside its data, so commands on
the same machine (`sourcing sync`) hand their work to it instead of opening its index."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

OPERATOR_PREFIX = "op-"
_FILE = "server.json"
_PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class RunningServer:
    """Written by `sourcing serve` (mode 0600, as Jupyter writes its runtime file): whoever may
    read the data directory may already act as an admin on it, so the token grants no more."""

    url: str
    pid: int
    token: str

    @classmethod
    def announce(cls, data_dir: Path, host: str, port: int) -> RunningServer:
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        server = cls(f"http://{shown_host}:{port}", os.getpid(), cls.new_token())
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = data_dir / f".{_FILE}.{server.pid}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(asdict(server), out)
        temporary.replace(data_dir / _FILE)
        return server

    @staticmethod
    def new_token() -> str:
        return OPERATOR_PREFIX + secrets.token_urlsafe(32)

    def withdraw(self, data_dir: Path) -> None:
        """Removes the file if it is still this server's (a later server may have replaced it)."""
        if RunningServer.read(data_dir) == self:
            (data_dir / _FILE).unlink(missing_ok=True)

    @classmethod
    def read(cls, data_dir: Path) -> RunningServer | None:
        try:
            fields = json.loads((data_dir / _FILE).read_text(encoding="utf-8"))
            return cls(url=str(fields["url"]), pid=int(fields["pid"]), token=str(fields["token"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @classmethod
    def find(cls, data_dir: Path) -> RunningServer | None:
        """The server serving `data_dir` now: its file, its process alive, its /healthz up.
        A file a killed server left behind is not a running server."""
        server = cls.read(data_dir)
        if server is None or not _alive(server.pid):
            return None
        try:
            answer = httpx.get(f"{server.url}/healthz", timeout=_PROBE_TIMEOUT_S)
        except httpx.HTTPError:
            return None
        return server if answer.status_code == 200 else None


def token_matches(secret: str, token_hash: bytes) -> bool:
    return hmac.compare_digest(hashlib.sha256(secret.encode()).digest(), token_hash)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
