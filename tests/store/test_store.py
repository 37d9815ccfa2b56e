"""The local store: verified blobs, atomic tags under a lock, images, rmi and gc, crashes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.errors import IntegrityError, InvalidReferenceError, NotFoundError, StoreError
from dockyard.image import Image, ImageIndex, OCILayout
from dockyard.oci import Descriptor, Digest, Reference
from dockyard.store import Store, default_home
from tests.image._build import image_layout, index_layout

BUSYBOX_DIGEST = "sha256:143eb2826517c5eaea8dbe784635d39b1ab05968002f130488dcc06df9fd5fa9"


def test_home_comes_from_the_environment(
    dockyard_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert default_home() == dockyard_home
    assert Store.open().home == dockyard_home
    monkeypatch.setenv("DOCKYARD_HOME", str(tmp_path / "other"))
    assert Store.open().home == tmp_path / "other"
    monkeypatch.delenv("DOCKYARD_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert default_home() == tmp_path / "h" / ".local" / "share" / "dockyard"


def test_the_build_engine_uses_the_same_home_as_the_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # regression: snapshots and the context stat cache ignored $XDG_DATA_HOME
    from dockyard.build.snapshot import dockyard_home

    monkeypatch.delenv("DOCKYARD_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert dockyard_home() == default_home() == tmp_path / "xdg" / "dockyard"


def test_put_blob_verifies_before_it_is_visible() -> None:
    store = Store.open()
    data = b"some layer bytes"
    good = Descriptor("application/octet-stream", Digest.of(data), len(data))
    assert store.put_blob(io.BytesIO(data), good) == good
    assert store.has_blob(good.digest)
    assert store.blob_path(good.digest).read_bytes() == data
    assert store.blob_path(good.digest) == store.home / "blobs" / "sha256" / good.digest.hex
    bad = Descriptor("application/octet-stream", Digest.of(b"other"), len(data))
    with pytest.raises(IntegrityError):
        store.put_blob(io.BytesIO(data), bad)
    assert not store.has_blob(bad.digest)
    assert list((store.home / "tmp").iterdir()) == []
    computed = store.put_blob(io.BytesIO(b"abc"))
    assert computed.digest == Digest.of(b"abc")
    assert computed.size == 3
    sha512 = Descriptor("x", Digest.of(data, "sha512"), len(data))
    store.put_blob(io.BytesIO(data), sha512)
    assert store.blob_path(sha512.digest).parent.name == "sha512"


def test_store_image_tag_resolve(busybox_oci: Path) -> None:
    store = Store.open()
    src = OCILayout.open(busybox_oci).source("1")
    top = store.sink("busybox:1").write(src)
    assert str(top.digest) == BUSYBOX_DIGEST
    assert store.resolve("busybox:1") == top
    assert store.resolve("docker.io/library/busybox:1") == top
    assert store.resolve(f"busybox@{BUSYBOX_DIGEST}").digest == top.digest
    image = store.image("busybox:1")
    assert isinstance(image, Image)
    assert image.manifest.raw == src.manifest.raw  # type: ignore[union-attr]
    assert store.image(BUSYBOX_DIGEST).digest == top.digest
    assert store.image(top.digest).digest == top.digest
    with image.open_blob(image.layers[0]) as stream:
        assert Digest.of(stream.read()) == image.layers[0].digest
    store.tag(Reference.parse("example.com/bb:2"), top)
    assert set(store.tags()) == {
        "docker.io/library/busybox:1",
        "example.com/bb:2",
    }
    with pytest.raises(NotFoundError, match="busybox:2"):
        store.resolve("busybox:2")
    with pytest.raises(NotFoundError):
        store.image("sha256:" + "0" * 64)
    with pytest.raises(NotFoundError):
        store.tag("x:1", Descriptor("a", Digest.of(b"absent"), 6))
    with pytest.raises(InvalidReferenceError):
        store.image("Bad:ref")
    entries = store.entries()
    assert [(e.repository, e.tag) for e in entries] == [("busybox", "1"), ("example.com/bb", "2")]
    assert entries[0].size == sum(d.size for d in image.blobs())
    assert entries[0].created.startswith("20")
    assert entries[0].platforms == ("linux/amd64",)


def test_index_in_store(tmp_path: Path) -> None:
    store = Store.open()
    layout, index = index_layout(tmp_path / "idx")
    store.sink("multi:1").write(layout.source("multi"))
    found = store.image("multi:1")
    assert isinstance(found, ImageIndex)
    assert found.digest == index.digest
    assert store.entries()[0].platforms == ("linux/amd64", "linux/arm64")


def test_rmi_collects_only_unshared_blobs(tmp_path: Path, busybox_oci: Path) -> None:
    store = Store.open()
    store.sink("busybox:1").write(OCILayout.open(busybox_oci).source("1"))
    store.tag("busybox:again", store.resolve("busybox:1"))
    layout, manifest = image_layout(tmp_path / "l")
    store.sink("other:1").write(layout.source("t"))
    before = set(_blob_names(store))
    store.remove(["busybox:1"])
    assert set(_blob_names(store)) == before  # still tagged as busybox:again
    store.remove(["busybox:again"])
    after = set(_blob_names(store))
    assert BUSYBOX_DIGEST.split(":")[1] not in after
    assert manifest.digest.hex in after
    assert all(store.has_blob(d.digest) for d in manifest.layers)
    with pytest.raises(NotFoundError):
        store.remove(["busybox:1"])


def test_gc_keeps_registered_roots() -> None:
    store = Store.open()
    kept = store.put_bytes(b"cache layer")
    dropped = store.put_bytes(b"garbage")
    store.set_root("build-cache", [kept.digest])
    result = store.gc()
    assert store.has_blob(kept.digest)
    assert not store.has_blob(dropped.digest)
    assert result.blobs == 1
    with pytest.raises(StoreError):
        store.set_root("../evil", [])


def _blob_names(store: Store) -> list[str]:
    return [p.name for p in (store.home / "blobs" / "sha256").iterdir()]


def test_corrupt_tag_index_is_a_clear_error() -> None:
    store = Store.open()
    (store.home / "repositories.json").write_text("{not json")
    with pytest.raises(StoreError, match="tag index"):
        store.resolve("busybox")


WRITER = """
import io, sys
from dockyard.oci import Descriptor, Digest
from dockyard.store import Store
store = Store.open()
name = sys.argv[1]
for i in range(int(sys.argv[2])):
    data = f"{name}-{i}".encode()
    desc = store.put_blob(io.BytesIO(data))
    manifest = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},'
        '"layers":[]}' % (desc.digest, desc.size)).encode()
    top = store.put_bytes(manifest, "application/vnd.oci.image.manifest.v1+json")
    store.tag(f"{name}:{i}", top)
"""


def test_concurrent_writers_lose_no_tags() -> None:
    count = 25
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, name, str(count)])
        for name in ("alpha", "beta", "gamma")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    store = Store.open()
    tags = store.tags()
    assert len(tags) == 3 * count
    for name in ("alpha", "beta", "gamma"):
        for i in range(count):
            image = store.image(f"{name}:{i}")
            assert isinstance(image, Image)
            assert image.config_bytes() == f"{name}-{i}".encode()
    assert json.loads((store.home / "repositories.json").read_text())["version"] == 1


SLOW_WRITER = """
import io, sys, time
from dockyard.oci import Descriptor, Digest
from dockyard.store import Store

class Slow(io.RawIOBase):
    def __init__(self):
        self.sent = 0
    def readable(self):
        return True
    def readinto(self, buf):
        if self.sent > 10:
            print("writing", flush=True)
            time.sleep(60)
        buf[:1] = b"x"
        self.sent += 1
        return 1

Store.open().put_blob(Slow(), Descriptor("x", Digest.of(b"x" * 100), 100))
"""


def test_killed_writer_leaves_nothing_visible_and_temp_is_cleaned() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "writing"
    store = Store.open()
    leftovers = list((store.home / "tmp").iterdir())
    assert len(leftovers) == 1
    assert store.clean_temp() == 0  # the live writer holds its lock
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert not store.has_blob(Digest.of(b"x" * 100))
    assert leftovers[0].exists()
    # a later gc removes it; other writes meanwhile are unaffected
    store.put_bytes(b"unrelated")
    assert store.gc().temp_files == 1
    assert list((store.home / "tmp").iterdir()) == []


def test_gc_waits_for_writers() -> None:
    store = Store.open()
    with store.writing():
        blob = store.put_bytes(b"in flight")
        proc = subprocess.Popen(
            [sys.executable, "-c", "from dockyard.store import Store; Store.open().gc()"]
        )
        time.sleep(0.5)
        assert proc.poll() is None  # gc is blocked while we write
        store.set_root("test", [blob.digest])
    assert proc.wait(timeout=30) == 0
    assert store.has_blob(blob.digest)


def test_adopt_blob_moves_a_file_the_builder_hashed(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "home")
    data = b"layer bytes"
    descriptor = Descriptor("application/vnd.oci.image.layer.v1.tar", Digest.of(data), len(data))
    made = store.home / "tmp" / "made"
    made.write_bytes(data)
    assert store.adopt_blob(made, descriptor) == descriptor
    assert not made.exists()
    assert store.read_blob(descriptor.digest) == data
    again = store.home / "tmp" / "again"
    again.write_bytes(data)
    store.adopt_blob(again, descriptor)  # already there: the copy is dropped
    assert not again.exists()
    short = store.home / "tmp" / "short"
    short.write_bytes(b"x")
    other = Descriptor(descriptor.media_type, Digest.of(b"y" * 5), 5)
    with pytest.raises(StoreError):
        store.adopt_blob(short, other)
    assert not store.has_blob(other.digest)
