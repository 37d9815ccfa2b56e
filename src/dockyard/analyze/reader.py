"""Streams an image's layers once each into the Analyzer: decompress, walk the tar, hash files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import BinaryIO

from dockyard.analyze.engine import Analyzer
from dockyard.analyze.model import Entry, LayerInfo, Report
from dockyard.analyze.tarstream import CHUNK, walk_tar
from dockyard.image.base import Image
from dockyard.oci import HistoryEntry
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink

__all__ = ["CHUNK", "align_history", "analyze_image", "read_layer"]


def read_layer(
    stream: BinaryIO,
    add: Callable[[Entry], None],
    *,
    hash_min_size: int | None = 1,
    where: str = "",
    on_read: Callable[[int], None] = lambda _count: None,
) -> int:
    """Read one layer blob (tar, tar+gzip or tar+zstd) once, calling ``add`` per entry.

    Regular files of at least ``hash_min_size`` bytes are hashed (sha256) while they stream
    by, for duplicate detection; ``None`` hashes nothing. The blob is read to its end (so a
    verifying stream checks its digest). Returns the uncompressed size. ArchiveError for a
    stream that is not a (compressed) tar, is truncated, or names a path outside the root.
    """
    return walk_tar(stream, add, hash_min_size=hash_min_size, where=where, on_read=on_read)


def align_history(history: Sequence[HistoryEntry], layer_count: int) -> list[HistoryEntry | None]:
    """The history entry that made each layer: entries marked empty_layer are skipped.

    Done as dive does it; a layer with no entry left gets None.
    """
    entries = iter(h for h in history if not h.empty_layer)
    return [next(entries, None) for _ in range(layer_count)]


def analyze_image(
    image: Image,
    *,
    name: str = "",
    top: int = 10,
    hash_min_size: int | None = 1,
    sink: ProgressSink = NULL_SINK,
) -> Report:
    """Analyze every layer of ``image``, reading each blob exactly once."""
    config = image.config()
    layers = image.layers
    history = align_history(config.history, len(layers))
    analyzer = Analyzer(top=top)
    for index, descriptor in enumerate(layers):
        entry = history[index]
        diff_id = str(config.diff_ids[index]) if index < len(config.diff_ids) else ""
        task = f"layer {index + 1}/{len(layers)} {descriptor.digest.short}"
        analyzer.begin_layer(
            LayerInfo(
                index=index,
                digest=str(descriptor.digest),
                diff_id=diff_id,
                media_type=descriptor.media_type,
                compressed_size=descriptor.size,
                instruction=entry.created_by if entry else "",
                comment=entry.comment if entry else "",
            )
        )
        sink(Event(task, EventKind.START, f"reading {task}", 0, descriptor.size))

        def progress(count: int, task: str = task, total: int = descriptor.size) -> None:
            sink(Event(task, EventKind.PROGRESS, "", count, total))

        with image.open_blob(descriptor) as stream:
            size = read_layer(
                stream,
                analyzer.add,
                hash_min_size=hash_min_size,
                where=f"{name or image.digest}: layer {descriptor.digest}",
                on_read=progress,
            )
        analyzer.end_layer(size=size)
        sink(Event(task, EventKind.DONE))
    return analyzer.finish(image=name, digest=str(image.digest), platform=str(config.platform))
