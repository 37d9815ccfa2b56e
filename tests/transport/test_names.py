"""Skopeo-style image names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidReferenceError, UsageError
from dockyard.transport import ImageName


@pytest.mark.parametrize(
    ("text", "transport", "path", "tag", "ref"),
    [
        ("oci:/tmp/x", "oci", "/tmp/x", None, None),
        ("oci:/tmp/x:v1", "oci", "/tmp/x", "v1", None),
        ("oci:rel/dir:a.b-c_d", "oci", "rel/dir", "a.b-c_d", None),
        ("oci-archive:/a.tar:t", "oci-archive", "/a.tar", "t", None),
        ("docker-archive:/a.tar", "docker-archive", "/a.tar", None, None),
        ("docker-archive:/a.tar:busybox:1", "docker-archive", "/a.tar", "busybox:1", None),
        ("docker-archive:/a.tar:@1", "docker-archive", "/a.tar", "@1", None),
        ("docker://busybox", "docker", None, None, "docker.io/library/busybox"),
        ("docker://127.0.0.1:5000/a/b:t", "docker", None, None, "127.0.0.1:5000/a/b:t"),
        ("busybox:1", "local", None, None, "docker.io/library/busybox:1"),
        ("localhost:5000/x", "local", None, None, "localhost:5000/x"),
        ("sha256:" + "ab" * 32, "id", None, None, None),
    ],
)
def test_parse(
    text: str, transport: str, path: str | None, tag: str | None, ref: str | None
) -> None:
    name = ImageName.parse(text)
    assert name.transport == transport
    assert name.path == (Path(path) if path else None)
    assert name.tag == tag
    assert (str(name.reference) if name.reference else None) == ref
    assert str(name) == text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", UsageError),
        ("oci:", UsageError),
        ("oci:/x:", UsageError),
        ("oci:/x:bad tag", InvalidReferenceError),
        ("docker-archive:/x:@a", UsageError),
        ("docker-archive:/x:Bad/Name", InvalidReferenceError),
        ("docker://Busybox", InvalidReferenceError),
        ("docker://busy box", InvalidReferenceError),
        ("docker:busybox", UsageError),
        ("containers-storage:x", UsageError),
        ("Busybox:1", InvalidReferenceError),
        ("busybox: 1", InvalidReferenceError),
    ],
)
def test_bad_names(text: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        ImageName.parse(text)
    assert info.value.exit_code == 2  # type: ignore[attr-defined]
