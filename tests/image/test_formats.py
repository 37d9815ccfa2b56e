"""OCI layouts, OCI archives and docker archives: reading, writing, round trips, bad input."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockyard.errors import (
    ArchiveError,
    IntegrityError,
    InvalidReferenceError,
    ManifestError,
    NotFoundError,
    UsageError,
)
from dockyard.image import (
    ContentIndex,
    DockerArchive,
    DockerArchiveSink,
    Image,
    ImageIndex,
    LayoutSink,
    OCIArchive,
    OCIArchiveSink,
    OCILayout,
    select_platform,
)
from dockyard.image.convert import compress_layers, to_oci
from dockyard.image.layout import REF_NAME
from dockyard.oci import Digest, ImageConfig, Platform, mediatypes
from tests.image._build import image_layout, index_layout, read_image

BUSYBOX_DIGEST = "sha256:143eb2826517c5eaea8dbe784635d39b1ab05968002f130488dcc06df9fd5fa9"


def _blobs(image: Image) -> dict[str, bytes]:
    out = {}
    for desc in image.blobs():
        with image.open_blob(desc) as stream:
            out[str(desc.digest)] = stream.read()
    return out


def test_read_busybox_layout(busybox_oci: Path) -> None:
    layout = OCILayout.open(busybox_oci)
    assert layout.tags() == ["1"]
    image = layout.source("1")
    assert isinstance(image, Image)
    assert str(image.digest) == BUSYBOX_DIGEST
    assert image.config().architecture == "amd64"
    assert layout.source(None).digest == image.digest  # the only image
    with pytest.raises(NotFoundError, match="tags there: 1"):
        layout.source("nope")


def test_layout_several_tags_and_rewrite(tmp_path: Path, busybox_oci: Path) -> None:
    src = OCILayout.open(busybox_oci).source("1")
    sink_dir = tmp_path / "out"
    LayoutSink(sink_dir, "a").write(src)
    LayoutSink(sink_dir, "b").write(src)
    _, manifest = image_layout(sink_dir, "c")
    layout = OCILayout.open(sink_dir)
    assert layout.tags() == ["a", "b", "c"]
    assert str(layout.source("a").digest) == BUSYBOX_DIGEST
    assert layout.source("c").digest == manifest.digest
    # re-pointing a tag replaces the entry
    LayoutSink(sink_dir, "a").write(layout.source("c"))
    assert layout.tags() == ["b", "c", "a"]
    assert layout.source("a").digest == manifest.digest
    with pytest.raises(UsageError, match="holds 3 images"):
        layout.source(None)
    assert json.loads((sink_dir / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert not list(sink_dir.rglob("*.partial"))


def test_layout_skopeo_reads_what_we_write(tmp_path: Path, busybox_oci: Path) -> None:
    LayoutSink(tmp_path / "out", "x").write(OCILayout.open(busybox_oci).source("1"))
    out = subprocess.run(
        ["skopeo", "inspect", f"oci:{tmp_path / 'out'}:x"], capture_output=True, check=True
    )
    assert json.loads(out.stdout)["Digest"] == BUSYBOX_DIGEST


def test_nested_index_and_platform_selection(tmp_path: Path) -> None:
    layout, index = index_layout(tmp_path / "idx")
    source = layout.source("multi")
    assert isinstance(source, ContentIndex)
    assert source.digest == index.digest
    arm = select_platform(source, Platform.parse("linux/arm64"))
    assert arm.config().architecture == "arm64"
    # an index of the index (nested)
    from dockyard.oci import Index

    outer = Index.build([index.descriptor()])
    layout.put_bytes(outer.raw, outer.descriptor())
    layout.add_entry(outer.descriptor(), "outer")
    nested = layout.source("outer")
    assert isinstance(nested, ImageIndex)
    assert select_platform(nested, Platform.parse("linux/amd64")).config().architecture == "amd64"
    # copy the whole index into another layout, then an OCI archive
    LayoutSink(tmp_path / "copy", "all").write(nested)
    again = OCILayout.open(tmp_path / "copy").source("all")
    assert again.digest == outer.digest
    OCIArchiveSink(tmp_path / "idx.tar", "all").write(again)
    assert OCIArchive(tmp_path / "idx.tar").source("all").digest == outer.digest


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        OCILayout.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveError, match="oci-layout"):
        OCILayout.open(tmp_path / "empty")
    layout, _manifest = image_layout(tmp_path / "l")
    (tmp_path / "l" / "index.json").write_text("<html>oops</html>")
    with pytest.raises(ManifestError, match=r"index\.json"):
        layout.source("t")
    layout2, manifest2 = image_layout(tmp_path / "l2")
    # a corrupted blob is detected when streamed
    layer = manifest2.layers[0]
    blob = layout2.blob_path(layer.digest)
    blob.chmod(0o644)
    blob.write_bytes(b"x" * layer.size)
    image = layout2.source("t")
    assert isinstance(image, Image)
    with pytest.raises(IntegrityError), image.open_blob(layer) as stream:
        stream.read()
    # a manifest blob that does not match its digest
    mblob = layout2.blob_path(manifest2.digest)
    mblob.write_bytes(mblob.read_bytes().replace(b"2", b"3", 1))
    with pytest.raises(IntegrityError):
        layout2.source("t")


def test_layout_wrong_media_type_manifest(tmp_path: Path) -> None:
    layout, manifest = image_layout(tmp_path / "l")
    bogus = manifest.raw.replace(mediatypes.OCI_MANIFEST.encode(), b"application/json")
    from dockyard.oci import Descriptor

    desc = Descriptor("application/json", Digest.of(bogus), len(bogus))
    layout.put_bytes(bogus, desc)
    layout.add_entry(desc, "bogus")
    with pytest.raises(ManifestError, match="media type"):
        layout.source("bogus")


def test_oci_archive_round_trip(tmp_path: Path, busybox_oci: Path) -> None:
    src = OCILayout.open(busybox_oci).source("1")
    assert isinstance(src, Image)
    OCIArchiveSink(tmp_path / "a.tar", "v1").write(src)
    archive = OCIArchive(tmp_path / "a.tar")
    assert archive.tags() == ["v1"]
    image = archive.source("v1")
    assert isinstance(image, Image)
    assert str(image.digest) == BUSYBOX_DIGEST
    assert _blobs(image) == _blobs(src)
    # skopeo reads it
    out = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{tmp_path / 'a.tar'}:v1"],
        capture_output=True,
        check=True,
    )
    assert json.loads(out.stdout)["Digest"] == BUSYBOX_DIGEST
    # and we read what skopeo writes
    subprocess.run(
        ["skopeo", "copy", "-q", f"oci:{busybox_oci}:1", f"oci-archive:{tmp_path / 's.tar'}:s"],
        check=True,
    )
    assert str(OCIArchive(tmp_path / "s.tar").source("s").digest) == BUSYBOX_DIGEST
    assert not list(tmp_path.glob(".*"))  # no staging leftovers


def test_oci_archive_refuses_unsafe_members(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("../oci-layout")
        data = b'{"imageLayoutVersion":"1.0.0"}'
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArchiveError, match="leaves the archive root"):
        OCIArchive(path)
    with pytest.raises(NotFoundError):
        OCIArchive(tmp_path / "missing.tar")


def test_docker_archive_write_and_read(tmp_path: Path, busybox_oci: Path) -> None:
    src = OCILayout.open(busybox_oci).source("1")
    assert isinstance(src, Image)
    path = tmp_path / "d.tar"
    written = DockerArchiveSink(path, "busybox:1").write(src)
    with tarfile.open(path) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    config = src.config()
    assert manifest == [
        {
            "Config": f"{src.manifest.config.digest.hex}.json",
            "RepoTags": ["busybox:1"],
            "Layers": [f"{d.hex}.tar" for d in config.diff_ids],
        }
    ]
    assert set(names) == {"manifest.json", manifest[0]["Config"], *manifest[0]["Layers"]}
    archive = DockerArchive(path)
    image = archive.image()
    assert image.digest == written.digest
    assert image.manifest.media_type == mediatypes.DOCKER_MANIFEST
    assert image.manifest.config.digest == src.manifest.config.digest  # the image ID
    assert [layer.digest for layer in image.layers] == list(config.diff_ids)
    assert archive.image("busybox:1").digest == image.digest
    assert archive.image("docker.io/library/busybox:1").digest == image.digest
    assert archive.image("@0").digest == image.digest
    with pytest.raises(NotFoundError):
        archive.image("busybox:2")
    with pytest.raises(NotFoundError):
        archive.image("@3")
    # the uncompressed layer is the diff ID
    layer = image.layers[0]
    with image.open_blob(layer) as stream:
        assert Digest.of(stream.read()) == config.diff_ids[0]
    # docker-archive -> docker-archive keeps the digest
    DockerArchiveSink(tmp_path / "d2.tar", "busybox:1").write(image)
    assert DockerArchive(tmp_path / "d2.tar").image().digest == image.digest
    assert (tmp_path / "d2.tar").read_bytes() == path.read_bytes()


def test_docker_archive_with_skopeo(tmp_path: Path, busybox_oci: Path) -> None:
    src = OCILayout.open(busybox_oci).source("1")
    DockerArchiveSink(tmp_path / "ours.tar", "busybox:1").write(src)
    out = subprocess.run(
        ["skopeo", "inspect", f"docker-archive:{tmp_path / 'ours.tar'}"],
        capture_output=True,
        check=True,
    )
    assert json.loads(out.stdout)["Layers"] == [str(d) for d in src.config().diff_ids]
    subprocess.run(
        [
            "skopeo", "copy", "-q", f"oci:{busybox_oci}:1",
            f"docker-archive:{tmp_path / 'theirs.tar'}:example.com/bb:2",
        ],
        check=True,
    )  # fmt: skip
    theirs = DockerArchive(tmp_path / "theirs.tar")
    assert theirs.tags() == ["example.com/bb:2"]
    image = theirs.image("example.com/bb:2")
    assert image.manifest.config.digest == src.manifest.config.digest
    assert _blobs(image)  # every blob streams and verifies
    # back to OCI: layers gzipped deterministically, OCI media types
    converted = to_oci(compress_layers(image))
    assert isinstance(converted, Image)
    assert converted.manifest.media_type == mediatypes.OCI_MANIFEST
    assert [d.media_type for d in converted.layers] == [mediatypes.OCI_LAYER_GZIP]
    again = to_oci(compress_layers(theirs.image()))
    assert again.digest == converted.digest
    with converted.open_blob(converted.layers[0]) as stream:
        assert Digest.of(gzip.decompress(stream.read())) == src.config().diff_ids[0]


def test_docker_archive_gzip_layers_are_decompressed(tmp_path: Path) -> None:
    layout, _manifest = image_layout(tmp_path / "l")
    image = read_image(layout, "t")
    DockerArchiveSink(tmp_path / "d.tar").write(image)
    back = DockerArchive(tmp_path / "d.tar").image()
    assert [d.digest for d in back.layers] == list(image.config().diff_ids)
    assert [d.media_type for d in back.layers] == [mediatypes.DOCKER_LAYER_TAR] * 2


def test_docker_archive_diff_id_mismatch_is_detected(tmp_path: Path) -> None:
    layout, _manifest = image_layout(tmp_path / "l")
    image = read_image(layout, "t")
    config = image.config()
    bad = ImageConfig.parse(image.config_bytes()).evolve(
        diff_ids=(Digest.of(b"wrong"), config.diff_ids[1])
    )
    raw = bad.to_json()
    from dockyard.oci import Descriptor, Manifest

    desc = Descriptor(mediatypes.OCI_CONFIG, Digest.of(raw), len(raw))
    layout.put_bytes(raw, desc)
    forged = Manifest.build(desc, image.layers)
    layout.put_bytes(forged.raw, forged.descriptor())
    layout.add_entry(forged.descriptor(), "forged")
    with pytest.raises(IntegrityError, match="diff ID"):
        DockerArchiveSink(tmp_path / "d.tar").write(layout.source("forged"))
    assert not (tmp_path / "d.tar").exists()
    assert not list(tmp_path.glob(".d.tar*"))


def test_docker_archive_bad_input(tmp_path: Path) -> None:
    def archive(name: str, files: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w") as tar:
            for member, data in files.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    with pytest.raises(ArchiveError, match=r"manifest\.json"):
        DockerArchive(archive("a.tar", {"x": b""}))
    with pytest.raises(ManifestError, match="JSON"):
        DockerArchive(archive("b.tar", {"manifest.json": b"<html>"}))
    with pytest.raises(ManifestError):
        DockerArchive(archive("c.tar", {"manifest.json": b'[{"Config": 1}]'}))
    two = json.dumps(
        [{"Config": "c", "Layers": [], "RepoTags": ["a:1"]}, {"Config": "c", "Layers": []}]
    ).encode()
    multi = DockerArchive(archive("d.tar", {"manifest.json": two, "c": b"{}"}))
    with pytest.raises(UsageError, match="holds 2 images"):
        multi.image()
    with pytest.raises(InvalidReferenceError):
        multi.image("Bad Name")
    with pytest.raises(ArchiveError, match="absolute"):
        DockerArchive(archive("e.tar", {"manifest.json": two, "/etc/c": b"{}"}))


def test_docker_archive_refuses_index(tmp_path: Path) -> None:
    layout, _ = index_layout(tmp_path / "idx")
    with pytest.raises(UsageError, match="single-platform"):
        DockerArchiveSink(tmp_path / "d.tar").write(layout.source("multi"))


def test_sinks_do_not_touch_read_only_source(tmp_path: Path, busybox_oci: Path) -> None:
    copy = tmp_path / "bb"
    shutil.copytree(busybox_oci, copy)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    LayoutSink(copy, "2").write(OCILayout.open(copy).source("1"))
    assert OCILayout.open(copy).tags() == ["1", "2"]
    assert REF_NAME in json.loads((copy / "index.json").read_text())["manifests"][0]["annotations"]
