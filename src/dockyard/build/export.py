"""Exporters: write a finished build to the outputs buildx knows (image, oci, docker, registry, local, tar)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.build.options import OutputSpec
from dockyard.build.snapshot import readonly_view
from dockyard.errors import DockyardError, UsageError
from dockyard.image import Image
from dockyard.oci import Descriptor, Digest, Manifest, Reference
from dockyard.oci import mediatypes as mt
from dockyard.store.store import Store, ref_key
from dockyard.transport.transport import TransportOptions, open_sink

if TYPE_CHECKING:
    from dockyard.build.engine import Builder, StageResult

__all__ = ["export"]


def export(builder: Builder, manifest: Manifest, final: StageResult) -> None:
    """Write the image to every ``--output``; each write is atomic or leaves nothing behind."""
    store = builder.store
    tags = builder.options.tags
    with TransportOptions(
        insecure=builder.options.insecure_registries, store=store, progress=builder.progress
    ) as opts:
        for spec in builder.options.outputs:
            converted = convert_manifest(store, manifest, spec.compression, oci=spec.oci_mediatypes)
            image = store.open_descriptor(converted.descriptor())
            assert isinstance(image, Image)
            if spec.type == "image":
                for tag in tags:
                    ref = Reference.parse(tag).with_default_tag()
                    store.tag(ref, converted.descriptor())
                    builder.written_tags[ref_key(ref)] = str(converted.digest)
            elif spec.type == "oci":
                name = f"oci-archive:{spec.dest}" if spec.tar else f"oci:{spec.dest}"
                open_sink(name, options=opts).write(image, _tag_names(tags))
            elif spec.type == "docker":
                open_sink(f"docker-archive:{spec.dest}", options=opts).write(image, list(tags))
            elif spec.type == "registry":
                names = [spec.name] if spec.name else list(tags)
                for tag in names:
                    open_sink(f"docker://{tag}", options=opts).write(image)
            elif spec.type == "local":
                _export_rootfs(builder, final, Path(spec.dest))
            elif spec.type == "tar":
                _export_tar(builder, final, spec)


_OCI_LAYER = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD, "uncompressed": mt.OCI_LAYER}
_DOCKER_LAYER = {
    "gzip": mt.DOCKER_LAYER,
    "zstd": "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "uncompressed": "application/vnd.docker.image.rootfs.diff.tar",
}


def convert_manifest(
    store: Store, manifest: Manifest, compression: str, *, oci: bool = True
) -> Manifest:
    """The image with its layers in ``compression`` and OCI or Docker media types.

    Layers are built gzip-compressed; another compression is made once per layer and
    remembered (``cache/converted``), so a cache hit is never recompressed twice.
    """
    if compression == "gzip" and oci:
        return manifest
    layers = []
    for layer in manifest.layers:
        blob = layer if compression == "gzip" else _recompressed(store, layer, compression)
        media_type = (_OCI_LAYER if oci else _DOCKER_LAYER)[compression]
        layers.append(Descriptor(media_type, blob.digest, blob.size))
    config = Descriptor(
        mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, manifest.config.digest, manifest.config.size
    )
    converted = Manifest.build(
        config, layers, media_type=mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST
    )
    with store.writing():
        store.put_bytes(converted.raw, converted.media_type)
        store.set_root(f"build-{converted.digest.hex[:16]}", [converted.digest])
    return converted


def _recompressed(store: Store, layer: Descriptor, compression: str) -> Descriptor:
    index = store.home / "cache" / "converted" / f"{layer.digest.hex}.{compression}"
    try:
        found = Descriptor.from_dict(json.loads(index.read_text()))
        if store.has_blob(found.digest):
            return found
    except (OSError, ValueError, DockyardError):
        pass
    from dockyard.build.snapshot import open_layer_stream

    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.home / "tmp" / f"convert-{os.urandom(16).hex()}"
    try:
        hasher = hashlib.sha256()
        size = 0
        with (
            store.open_blob(layer.digest) as raw,
            open_layer_stream(raw) as plain,
            tmp.open("wb") as out,
        ):
            if compression == "zstd":
                import zstandard

                sink: Any = _Hashing(out, hasher)
                writer: Any = zstandard.ZstdCompressor(level=3).stream_writer(sink, closefd=False)
            else:
                writer = _Hashing(out, hasher)
            while chunk := plain.read(1 << 20):
                writer.write(chunk)
            if compression == "zstd":
                writer.flush(zstandard.FLUSH_FRAME)
            size = out.tell()
        descriptor = Descriptor(_OCI_LAYER[compression], Digest("sha256", hasher.hexdigest()), size)
        with store.writing(), tmp.open("rb") as stream:
            store.put_blob(stream, descriptor)
        index_tmp = index.with_suffix(f".{os.urandom(4).hex()}")
        index_tmp.write_text(json.dumps(descriptor.to_dict()))
        index_tmp.replace(index)
        return descriptor
    finally:
        tmp.unlink(missing_ok=True)


class _Hashing:
    """A file wrapper that hashes what is written through it."""

    def __init__(self, out: BinaryIO, hasher: Any) -> None:
        self._out = out
        self._hasher = hasher

    def write(self, data: bytes) -> int:
        self._hasher.update(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


def _tag_names(tags: tuple[str, ...]) -> list[str]:
    names = []
    for tag in tags:
        ref = Reference.parse(tag)
        names.append(ref.tag or "latest")
    return names


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a merged root filesystem preserving owners, modes, links and times; skip whiteouts."""
    inodes: dict[tuple[int, int], Path] = {}
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target_dir = dst if rel == "." else dst / rel
        for name in sorted(dirnames + filenames):
            source = Path(dirpath, name)
            target = target_dir / name
            st = source.lstat()
            if _is_whiteout(st):
                if name in dirnames:
                    dirnames.remove(name)
                continue
            if stat.S_ISDIR(st.st_mode):
                target.mkdir()
            elif stat.S_ISLNK(st.st_mode):
                target.symlink_to(os.readlink(source))
            elif stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1 and (st.st_dev, st.st_ino) in inodes:
                    os.link(inodes[(st.st_dev, st.st_ino)], target)
                    continue
                shutil.copyfile(source, target)
                inodes[(st.st_dev, st.st_ino)] = target
            else:
                os.mknod(target, st.st_mode, st.st_rdev)
            os.lchown(target, st.st_uid, st.st_gid)
            if not stat.S_ISLNK(st.st_mode):
                target.chmod(stat.S_IMODE(st.st_mode))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    # directory times last: filling them changed their mtimes
    for dirpath, dirnames, _ in os.walk(src):
        for name in dirnames:
            source = Path(dirpath, name)
            st = source.lstat()
            target = dst / os.path.relpath(source, src)
            if target.is_dir():
                os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _export_rootfs(builder: Builder, final: StageResult, dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(
            f"--output type=local: {dest} is not empty", hint="choose a new or empty directory"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.urandom(4).hex()}")
    tmp.mkdir()
    try:
        dirs = builder.cache.ensure_all_extracted(final.layers)
        with readonly_view(dirs, builder.snapshots.root) as view:
            if view is not None:
                _copy_tree(view, tmp)
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _export_tar(builder: Builder, final: StageResult, spec: OutputSpec) -> None:
    dirs = builder.cache.ensure_all_extracted(final.layers)
    to_stdout = spec.dest == "-"
    target = Path(spec.dest)
    tmp = target.with_name(f".{target.name}.{os.urandom(4).hex()}") if not to_stdout else None
    try:
        stream = sys.stdout.buffer if tmp is None else open(tmp, "wb")  # noqa: SIM115 - closed below
        try:
            with (
                tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar,
                readonly_view(dirs, builder.snapshots.root) as view,
            ):
                if view is not None:
                    for dirpath, dirnames, filenames in os.walk(view):
                        dirnames.sort()
                        for name in sorted(dirnames + filenames):
                            path = Path(dirpath, name)
                            st = path.lstat()
                            if _is_whiteout(st):
                                continue
                            info = tar.gettarinfo(str(path), arcname=os.path.relpath(path, view))
                            info.uname = info.gname = ""
                            if info.isreg():
                                with path.open("rb") as data:
                                    tar.addfile(info, data)
                            else:
                                tar.addfile(info)
        finally:
            if not to_stdout:
                stream.close()
        if tmp is not None:
            tmp.replace(target)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
