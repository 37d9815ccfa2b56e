"""Interoperability with skopeo: it reads what we push, we read what it pushes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.oci import Digest, Reference
from dockyard.registry import RegistryClient, RegistrySink, RemoteImage, open_remote
from tests.conftest import Registry
from tests.registry.images import LayoutImage

pytestmark = pytest.mark.registry

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"


def skopeo(*args: str) -> str:
    result = subprocess.run(
        [SKOPEO, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_skopeo_reads_what_we_push(
    client: RegistryClient, registry: Registry, busybox: LayoutImage, tmp_path: Path
) -> None:
    RegistrySink(client, Reference.parse(f"{registry.host}/interop/ours:1")).write(busybox)
    source = f"docker://{registry.host}/interop/ours:1"
    raw = skopeo("inspect", "--tls-verify=false", "--raw", source)
    assert raw.encode() == busybox.manifest.raw
    info = json.loads(skopeo("inspect", "--tls-verify=false", source))
    assert info["Digest"] == str(busybox.digest)
    skopeo("copy", "--src-tls-verify=false", source, f"oci:{tmp_path / 'out'}:1")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == str(busybox.digest)


def test_we_read_what_skopeo_pushes(
    client: RegistryClient, registry: Registry, busybox_oci: Path, busybox: LayoutImage
) -> None:
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        f"oci:{busybox_oci}:1",
        f"docker://{registry.host}/interop/theirs:1",
    )
    image = open_remote(client, Reference.parse(f"{registry.host}/interop/theirs:1"), None)
    assert isinstance(image, RemoteImage)
    assert image.digest == busybox.digest
    for blob in image.blobs():
        with image.open_blob(blob) as stream:
            assert Digest.of(stream.read()) == blob.digest
