"""Digests: sha256 and sha512, unknown algorithms, malformed hex, stream verification."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.errors import IntegrityError, InvalidDigestError
from dockyard.oci import Digest, Verifier


def test_sha256_and_sha512() -> None:
    data = b"hello"
    assert str(Digest.of(data)) == "sha256:" + hashlib.sha256(data).hexdigest()
    d512 = Digest.of(data, "sha512")
    assert str(d512) == "sha512:" + hashlib.sha512(data).hexdigest()
    assert Digest.parse(str(d512)) == d512
    assert d512.short == d512.hex[:12]


@pytest.mark.parametrize(
    "text",
    [
        "md5:" + "a" * 32,
        "sha384:" + "a" * 96,
        "blake3:" + "a" * 64,
        "SHA256:" + "a" * 64,
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "g" * 64,
        "sha512:" + "a" * 64,
        "sha256",
        ":" + "a" * 64,
        "",
        "sha256:",
    ],
)
def test_bad_digests(text: str) -> None:
    with pytest.raises(InvalidDigestError) as info:
        Digest.parse(text)
    assert info.value.exit_code == 2


def test_unknown_algorithm_names_it() -> None:
    with pytest.raises(InvalidDigestError, match="md5"):
        Digest.parse("md5:" + "a" * 32)
    with pytest.raises(InvalidDigestError):
        Digest.of(b"x", "md5")


def test_verifier_accepts_good_content() -> None:
    data = b"x" * 1000
    verifier = Verifier(Digest.of(data), len(data))
    verifier.update(data[:10])
    verifier.update(data[10:])
    verifier.verify()


def test_verifier_sha512() -> None:
    data = b"payload"
    verifier = Verifier(Digest.of(data, "sha512"), len(data))
    verifier.update(data)
    verifier.verify()


def test_verifier_rejects_altered_content() -> None:
    verifier = Verifier(Digest.of(b"good"), 4)
    verifier.update(b"evil")
    with pytest.raises(IntegrityError, match="mismatch"):
        verifier.verify()


def test_verifier_rejects_short_and_long_content() -> None:
    short = Verifier(Digest.of(b"good"), 4)
    short.update(b"goo")
    with pytest.raises(IntegrityError, match="3 bytes"):
        short.verify()
    long = Verifier(Digest.of(b"good"), 4)
    with pytest.raises(IntegrityError, match="longer"):
        long.update(b"goodx")


def test_digests_order_and_hash() -> None:
    a, b = Digest.of(b"a"), Digest.of(b"b")
    assert len({a, b, Digest.parse(str(a))}) == 2
    assert sorted([a, b]) == sorted([b, a])
