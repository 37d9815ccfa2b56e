"""Version ordering: every conformance vector, dpkg agreement, and bad input."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.errors import InputError, InvalidVersionError
from dockyard.scan.versions import (
    APK,
    DPKG,
    GO,
    PEP440,
    RPM,
    SEMVER,
    VersionScheme,
    compare,
    go_toolchain_version,
    scheme_for,
)

VECTOR_FILES = {
    "alpine-versions.txt": APK,
    "alpine-versions-generated.txt": APK,
    "debian-versions.txt": DPKG,
    "debian-versions-generated.txt": DPKG,
    "pypi-versions.txt": PEP440,
    "pypi-versions-generated.txt": PEP440,
    "redhat-versions.txt": RPM,
    "semver-versions.txt": SEMVER,
}
EXPECTED = {"<": -1, "=": 0, ">": 1}


def _vectors(path: Path) -> list[tuple[int, str, str, str]]:
    cases = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.strip()
        if not text or text.startswith(("#", "//")):
            continue
        a, op, b = text.split(" ")
        cases.append((number, a, op, b))
    return cases


@pytest.mark.parametrize("name", sorted(VECTOR_FILES))
def test_conformance_vectors(conformance_dir: Path, name: str) -> None:
    scheme = VECTOR_FILES[name]
    cases = _vectors(conformance_dir / "versions" / name)
    assert len(cases) >= 25
    failures = []
    for number, a, op, b in cases:
        want = EXPECTED[op]
        got = scheme.compare(a, b)
        back = scheme.compare(b, a)
        if got != want or back != -want:
            failures.append(f"{name}:{number}: {a} {op} {b} (got {got}, reversed {back})")
    assert not failures, "\n".join(failures[:40]) + f"\n{len(failures)} failures"


def test_semver_vectors_also_hold_for_go(conformance_dir: Path) -> None:
    for _, a, op, b in _vectors(conformance_dir / "versions" / "semver-versions.txt"):
        assert GO.compare(a, b) == EXPECTED[op], (a, op, b)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("go1.19.8", "1.19.8", 0),
        ("go1.19.8", "1.20.0", -1),
        ("go1.20rc1", "1.20.0", -1),
        ("go1.20rc1", "1.20.0-rc.1", 0),
        ("go1.21", "1.21.0", 0),
        ("v0.0.0-20210101000000-abcdefabcdef", "v0.0.0-20220101000000-abcdefabcdef", -1),
        ("v0.0.0-20210101000000-abcdefabcdef", "0.0.1", -1),
        ("v1.2.4-0.20210101000000-abcdefabcdef", "1.2.4", -1),
        ("v1.2.4-0.20210101000000-abcdefabcdef", "1.2.3", 1),
        ("v2.0.0+incompatible", "2.0.0", 0),
    ],
)
def test_go_versions(a: str, b: str, want: int) -> None:
    assert GO.compare(a, b) == want


def test_go_toolchain_version() -> None:
    assert go_toolchain_version("go1.19.8") == "1.19.8"
    assert go_toolchain_version("go1.22") == "1.22.0"
    assert go_toolchain_version("go1.21rc2") == "1.21.0-rc.2"
    assert go_toolchain_version("go1.21.0 X:boringcrypto") == "1.21.0"
    assert go_toolchain_version("v1.2.3") == "1.2.3"


@pytest.mark.parametrize(
    ("scheme", "text"),
    [
        (DPKG, ""),
        (DPKG, "a:1.0"),
        (DPKG, "1:"),
        (DPKG, "1.0-"),
        (DPKG, "abc"),
        (DPKG, "1.0 2"),
        (DPKG, "1.0_x"),
        (SEMVER, "not-a-version"),
        (SEMVER, ""),
        (GO, "vX"),
        (APK, ""),
        (PEP440, "  "),
        (RPM, ""),
    ],
)
def test_bad_versions_raise_input_errors(scheme: VersionScheme, text: str) -> None:
    assert not scheme.is_valid(text)
    with pytest.raises(InvalidVersionError) as info:
        scheme.compare(text, "1.0")
    assert isinstance(info.value, InputError)
    assert repr(text) in str(info.value)


def test_scheme_for_ecosystems() -> None:
    assert scheme_for("Debian:11") is DPKG
    assert scheme_for("Alpine:v3.18") is APK
    assert scheme_for("PyPI") is PEP440
    assert scheme_for("Go") is GO
    assert scheme_for("npm") is SEMVER
    assert scheme_for("Red Hat") is RPM
    assert scheme_for("Hackage") is None
    assert compare("Debian", "1:1.0", "2.0") == 1
    with pytest.raises(InvalidVersionError):
        compare("Hackage", "1", "2")


_DPKG_PART = st.text(alphabet="0123456789.+~abz", min_size=1, max_size=6)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
def test_dpkg_agrees_with_dpkg_compare_versions() -> None:
    """A property test: random version pairs ordered like ``dpkg --compare-versions``."""
    rng = random.Random(8)
    alphabet = "0123456789.+~ab"

    def version() -> str:
        upstream = str(rng.randint(0, 3)) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 5))
        )
        text = upstream
        if rng.random() < 0.5:
            text += "-" + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.2:
            text = f"{rng.randint(0, 2)}:{text}"
        return text

    pairs = [(version(), version()) for _ in range(120)]
    script = "\n".join(
        f"if dpkg --compare-versions '{a}' lt '{b}' 2>/dev/null; then echo -1; "
        f"elif dpkg --compare-versions '{a}' eq '{b}' 2>/dev/null; then echo 0; else echo 1; fi"
        for a, b in pairs
    )
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    for (a, b), line in zip(pairs, out.stdout.split(), strict=True):
        assert DPKG.compare(a, b) == int(line), (a, b)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="0123456789.~+abz-", min_size=1, max_size=8), min_size=3, max_size=3)
)
def test_dpkg_order_is_consistent(parts: list[str]) -> None:
    versions = [f"1{p}" for p in parts if DPKG.is_valid(f"1{p}")]
    for a in versions:
        assert DPKG.compare(a, a) == 0
        for b in versions:
            assert DPKG.compare(a, b) == -DPKG.compare(b, a)
