"""Copies between every transport against a real registry, checked with skopeo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dockyard.errors import NotFoundError, UsageError
from dockyard.image import DockerArchive, Image, ImageIndex, OCILayout
from dockyard.oci import Platform, mediatypes
from dockyard.progress import EventKind, Recorder
from dockyard.store import Store
from dockyard.transport import TransportOptions, copy, inspect, open_sink, open_source
from tests.conftest import Registry
from tests.image._build import index_layout

BUSYBOX = "sha256:143eb2826517c5eaea8dbe784635d39b1ab05968002f130488dcc06df9fd5fa9"

pytestmark = pytest.mark.registry


def _skopeo(*args: str) -> str:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_round_trip_through_every_transport(
    registry: Registry, busybox_oci: Path, tmp_path: Path
) -> None:
    reg = registry.host
    recorder = Recorder()
    with TransportOptions(progress=recorder) as options:
        first = copy(f"oci:{busybox_oci}:1", f"docker://{reg}/rt/busybox:1", options=options)
    assert str(first.digest) == BUSYBOX
    assert any(e.kind is EventKind.DONE for e in recorder.events)
    # skopeo sees exactly that
    seen = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{reg}/rt/busybox:1"))
    assert seen["Digest"] == BUSYBOX
    # registry -> docker archive (format changes: docker manifest, uncompressed layers)
    archive = tmp_path / "bb.tar"
    to_archive = copy(f"docker://{reg}/rt/busybox:1", f"docker-archive:{archive}:busybox:1")
    assert to_archive.descriptor.media_type == mediatypes.DOCKER_MANIFEST
    assert DockerArchive(archive).tags() == ["busybox:1"]
    assert json.loads(_skopeo("inspect", f"docker-archive:{archive}"))["Layers"] == [
        str(d.digest) for d in DockerArchive(archive).image().layers
    ]
    # docker archive -> docker archive: unchanged
    again = copy(f"docker-archive:{archive}", f"docker-archive:{tmp_path / 'bb2.tar'}:busybox:1")
    assert again.digest == to_archive.digest
    # docker archive -> oci (gzip, OCI types): deterministic, and skopeo reads it
    back = copy(f"docker-archive:{archive}", f"oci:{tmp_path / 'back'}:back")
    back2 = copy(f"docker-archive:{tmp_path / 'bb2.tar'}", f"oci:{tmp_path / 'back'}:back2")
    assert back.digest == back2.digest
    assert json.loads(_skopeo("inspect", f"oci:{tmp_path / 'back'}:back"))["Digest"] == str(
        back.digest
    )
    # oci -> registry -> oci: unchanged both ways
    pushed = copy(f"oci:{tmp_path / 'back'}:back", f"docker://{reg}/rt/back:1")
    assert pushed.digest == back.digest
    pulled = copy(f"docker://{reg}/rt/busybox:1", f"oci:{tmp_path / 'again'}:1")
    assert str(pulled.digest) == BUSYBOX
    assert json.loads(_skopeo("inspect", f"oci:{tmp_path / 'again'}:1"))["Digest"] == BUSYBOX
    # and the oci-archive, store legs
    arch = copy(f"docker://{reg}/rt/busybox:1", f"oci-archive:{tmp_path / 'o.tar'}:x")
    assert str(arch.digest) == BUSYBOX
    stored = copy(f"oci-archive:{tmp_path / 'o.tar'}:x", "mine/busybox:1")
    assert str(stored.digest) == BUSYBOX
    assert str(Store.open().resolve("mine/busybox:1").digest) == BUSYBOX
    out = copy("mine/busybox:1", f"docker://{reg}/rt/fromstore:1")
    assert str(out.digest) == BUSYBOX


def test_dockyard_reads_what_skopeo_pushed(
    registry: Registry, busybox_oci: Path, tmp_path: Path
) -> None:
    reg = registry.host
    _skopeo(
        "copy", "-q", "--dest-tls-verify=false", f"oci:{busybox_oci}:1",
        f"docker://{reg}/sk/busybox:1",
    )  # fmt: skip
    _skopeo(
        "copy", "-q", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{busybox_oci}:1",
        f"docker://{reg}/sk/busybox:v2s2",
    )  # fmt: skip
    source = open_source(f"docker://{reg}/sk/busybox:1")
    assert str(source.digest) == BUSYBOX
    docker = open_source(f"docker://{reg}/sk/busybox:v2s2")
    assert isinstance(docker, Image)
    assert docker.manifest.media_type == mediatypes.DOCKER_MANIFEST
    # a Docker manifest copied registry -> registry keeps its digest
    result = copy(f"docker://{reg}/sk/busybox:v2s2", f"docker://{reg}/sk/copy:v2s2")
    assert result.digest == docker.digest
    # into an OCI layout it becomes OCI (as skopeo does), and skopeo agrees on the digest
    ours = copy(f"docker://{reg}/sk/busybox:v2s2", f"oci:{tmp_path / 'o'}:x")
    _skopeo(
        "copy", "-q", "--src-tls-verify=false", f"docker://{reg}/sk/busybox:v2s2",
        f"oci:{tmp_path / 's'}:x",
    )  # fmt: skip
    assert json.loads(_skopeo("inspect", f"oci:{tmp_path / 's'}:x"))["Digest"] == str(ours.digest)
    # what skopeo writes as docker-archive
    _skopeo(
        "copy", "-q", "--src-tls-verify=false", f"docker://{reg}/sk/busybox:1",
        f"docker-archive:{tmp_path / 'sk.tar'}:busybox:1",
    )  # fmt: skip
    from_archive = copy(f"docker-archive:{tmp_path / 'sk.tar'}", f"docker://{reg}/sk/fromarch:1")
    seen = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{reg}/sk/fromarch:1"))
    assert seen["Digest"] == str(from_archive.digest)
    assert seen["Layers"][0] != seen.get("DiffIDs")


def test_skopeo_copies_what_dockyard_pushed(
    registry: Registry, busybox_oci: Path, tmp_path: Path
) -> None:
    reg = registry.host
    copy(f"oci:{busybox_oci}:1", f"docker://{reg}/dy/busybox:1")
    _skopeo(
        "copy", "-q", "--src-tls-verify=false", f"docker://{reg}/dy/busybox:1",
        f"oci:{tmp_path / 'o'}:x",
    )  # fmt: skip
    assert json.loads(_skopeo("inspect", f"oci:{tmp_path / 'o'}:x"))["Digest"] == BUSYBOX


def test_index_copy_all_and_platform(registry: Registry, tmp_path: Path) -> None:
    reg = registry.host
    layout, index = index_layout(tmp_path / "idx")
    result = copy(f"oci:{layout.root}:multi", f"docker://{reg}/multi/app:1", all_platforms=True)
    assert result.digest == index.digest
    assert result.platforms == ("linux/amd64", "linux/arm64")
    remote = open_source(f"docker://{reg}/multi/app:1")
    assert isinstance(remote, ImageIndex)
    arm = copy(
        f"docker://{reg}/multi/app:1",
        f"oci:{tmp_path / 'arm'}:arm",
        platform=Platform.parse("linux/arm64"),
    )
    assert arm.platforms == ("linux/arm64",)
    assert arm.digest == index.manifests[1].digest
    host = copy(f"oci:{layout.root}:multi", f"oci:{tmp_path / 'host'}:h")
    assert host.digest == index.manifests[0].digest  # the host (amd64) image, like skopeo
    with pytest.raises(NotFoundError, match="s390x"):
        copy(
            f"oci:{layout.root}:multi",
            f"oci:{tmp_path / 'x'}:x",
            platform=Platform.parse("linux/s390x"),
        )
    with pytest.raises(UsageError):
        copy(f"oci:{layout.root}:multi", f"docker-archive:{tmp_path / 'd.tar'}", all_platforms=True)
    report = inspect(f"docker://{reg}/multi/app:1", platform=Platform.parse("linux/arm64"))
    assert report["Digest"] == str(index.digest)
    assert report["Architecture"] == "arm64"


def test_inspect_like_skopeo(registry: Registry, busybox_oci: Path) -> None:
    reg = registry.host
    copy(f"oci:{busybox_oci}:1", f"docker://{reg}/insp/busybox:1")
    copy(f"oci:{busybox_oci}:1", f"docker://{reg}/insp/busybox:2")
    ours = inspect(f"docker://{reg}/insp/busybox:1")
    theirs = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{reg}/insp/busybox:1"))
    for key in ("Digest", "RepoTags", "Created", "Architecture", "Os", "Layers", "Env"):
        assert ours[key] == theirs[key], key
    assert ours["Name"] == theirs["Name"]


def test_bare_name_prefers_the_store(registry: Registry, busybox_oci: Path, tmp_path: Path) -> None:
    reg = registry.host
    layout, index = index_layout(tmp_path / "idx")
    copy(f"oci:{layout.root}:multi", f"docker://{reg}/pref/app:1", all_platforms=True)
    # not in the store: comes from the registry
    assert open_source(f"{reg}/pref/app:1").digest == index.digest
    # once stored under that name, the store wins
    copy(f"oci:{busybox_oci}:1", f"{reg}/pref/app:1")
    assert str(open_source(f"{reg}/pref/app:1").digest) == BUSYBOX
    sink = open_sink(f"{reg}/pref/other:1")
    assert type(sink).__name__ == "StoreSink"
    with pytest.raises(UsageError):
        open_sink(f"docker://{reg}/pref/app@{BUSYBOX}")


def test_copy_skips_blobs_the_destination_has(busybox_oci: Path, tmp_path: Path) -> None:
    copy(f"oci:{busybox_oci}:1", f"oci:{tmp_path / 'l'}:a")
    recorder = Recorder()
    with TransportOptions(progress=recorder) as options:
        copy(f"oci:{busybox_oci}:1", f"oci:{tmp_path / 'l'}:b", options=options)
    assert not [e for e in recorder.events if e.kind is EventKind.START]
    assert OCILayout.open(tmp_path / "l").tags() == ["a", "b"]
