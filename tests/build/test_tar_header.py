"""Layer tar headers: the fast writer gives tarfile's PAX-format bytes exactly."""

from __future__ import annotations

import tarfile

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.build.layer import ustar_header

_NAME = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1)


def reference(
    name: str, kind: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, link: str
) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = uid
    info.gid = gid
    info.size = size
    info.mtime = mtime
    info.linkname = link
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@settings(max_examples=500, deadline=None)
@given(
    name=_NAME,
    kind=st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE]),
    mode=st.integers(0, 0o177777),
    uid=st.integers(0, 8**8),
    gid=st.integers(0, 8**8),
    size=st.integers(0, 8**12),
    mtime=st.integers(0, 8**12),
    link=_NAME,
)
def test_the_fast_header_is_tarfiles_or_declines(
    name: str, kind: bytes, mode: int, uid: int, gid: int, size: int, mtime: int, link: str
) -> None:
    if kind == tarfile.DIRTYPE:
        name = name.rstrip("/") + "/"
    if kind != tarfile.SYMTYPE:
        link = ""
    if kind != tarfile.REGTYPE:
        size = 0
    expected = reference(name, kind, mode, uid, gid, size, mtime, link)
    got = ustar_header(name, mode, uid, gid, size, mtime, kind, link)
    if len(expected) == tarfile.BLOCKSIZE:  # no pax record: the fast path must match
        assert got == expected
    else:
        assert got is None  # a pax record is needed: left to tarfile


def test_known_header() -> None:
    header = ustar_header("usr/bin/app", 0o755, 0, 0, 5, 1_700_000_000, tarfile.REGTYPE)
    assert header == reference("usr/bin/app", tarfile.REGTYPE, 0o755, 0, 0, 5, 1_700_000_000, "")
    assert header is not None
    assert header[148:156] == b"010071\0 "  # the checksum field
    assert ustar_header("é", 0o644, 0, 0, 0, 0, tarfile.REGTYPE) is None
    assert ustar_header("a" * 101, 0o644, 0, 0, 0, 0, tarfile.REGTYPE) is None
