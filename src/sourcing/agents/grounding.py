"""The grounding check: product ids in an answer that no tool returned are removed as it streams."""

from __future__ import annotations

import re

# Ids are ASCII; a trailing run of these characters may still grow into an id.
_ID_CHARS = re.compile(r"[A-Za-z0-9_-]+\Z")
_BRACKETED = r"[\[【(（]?{id}[\]】)）]?"


class GroundingFilter:
    """Streams text through, replacing each product id that is not grounded with a flag.

    A product reference is any token matching `id_pattern` (the catalog's id shape), with the
    brackets the model was asked to write around it. Text is held back only while its end could
    still be the start of an id, so streaming stays live.
    """

    def __init__(self, id_pattern: str, grounded: set[str], flag: str) -> None:
        bare = rf"(?<![A-Za-z0-9_-])(?:{id_pattern})(?![A-Za-z0-9_-])"
        self._reference = re.compile(_BRACKETED.format(id=f"({bare})"))
        self._grounded = grounded
        self._flag = flag
        self._buffer = ""
        self.ungrounded: list[str] = []
        self.cited: list[str] = []

    def _check(self, match: re.Match[str]) -> str:
        product_id = match.group(1)
        if product_id in self._grounded:
            if product_id not in self.cited:
                self.cited.append(product_id)
            return match.group(0)
        if product_id not in self.ungrounded:
            self.ungrounded.append(product_id)
        return self._flag

    def feed(self, delta: str) -> str:
        self._buffer += delta
        tail = _ID_CHARS.search(self._buffer)
        # Hold back a possible id and the opening bracket before it; release the rest.
        cut = tail.start() if tail else len(self._buffer)
        if cut > 0 and self._buffer[cut - 1] in "[【(（":
            cut -= 1
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return self._reference.sub(self._check, ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return self._reference.sub(self._check, ready)
