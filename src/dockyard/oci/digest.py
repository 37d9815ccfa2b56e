"""Content digests (``sha256:<hex>``, ``sha512:<hex>``): parsing, computing, verifying streams."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from dockyard.errors import IntegrityError, InvalidDigestError

__all__ = ["ALGORITHMS", "Digest", "Verifier"]

Algorithm = Literal["sha256", "sha512"]
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}  # algorithm -> hex length
_HEX = re.compile(r"[a-f0-9]+")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated content digest; ``str(d)`` is ``"algorithm:hex"``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        length = ALGORITHMS.get(self.algorithm)
        if length is None:
            raise InvalidDigestError(
                f"unsupported digest algorithm {self.algorithm!r}",
                hint="use sha256 or sha512",
            )
        if len(self.hex) != length or not _HEX.fullmatch(self.hex):
            raise InvalidDigestError(
                f"invalid {self.algorithm} digest {self.hex!r}: want {length} lowercase hex characters"
            )

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``"sha256:..."``; raise InvalidDigestError on anything else."""
        algorithm, sep, hexpart = text.partition(":")
        if not sep or not algorithm:
            raise InvalidDigestError(
                f"invalid digest {text!r}: want ALGORITHM:HEX, e.g. sha256:<64 hex>"
            )
        return cls(algorithm, hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        if algorithm not in ALGORITHMS:
            raise InvalidDigestError(
                f"unsupported digest algorithm {algorithm!r}", hint="use sha256 or sha512"
            )
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    @property
    def short(self) -> str:
        """The first 12 hex characters, as docker shows image IDs."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Verifier:
    """Hashes a stream as it passes and checks it against an expected digest and size.

    A mismatch is an IntegrityError: it is never retried into success.
    """

    def __init__(self, expected: Digest, size: int | None = None) -> None:
        self.expected = expected
        self.size = size
        self._hash = expected.hasher()
        self.count = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.count += len(chunk)
        if self.size is not None and self.count > self.size:
            raise IntegrityError(
                f"content for {self.expected} is longer than its declared size {self.size}"
            )

    def verify(self, *, where: str = "") -> None:
        """Raise IntegrityError unless everything seen matches the expected digest and size."""
        if self.size is not None and self.count != self.size:
            raise IntegrityError(
                f"content for {self.expected} has {self.count} bytes, expected {self.size}",
                location=where or None,
            )
        actual = Digest(self.expected.algorithm, self._hash.hexdigest())
        if actual != self.expected:
            raise IntegrityError(
                f"digest mismatch: expected {self.expected}, got {actual}", location=where or None
            )
