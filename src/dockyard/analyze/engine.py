"""The analysis core: layer entries in, a Report out; no I/O, memory bounded by the paths.

Two views of the filesystem are kept while the layers stream by:

* the real merged filesystem (overlay semantics: whiteouts delete, opaque directories hide
  what lower layers put under them), for the per-layer changes, the precise waste, the
  final filesystem's largest paths, duplicates and findings;
* dive's view, to compute its efficiency score and wasted bytes exactly as dive does:
  every leaf of every layer's own tree is a "reference" to its path; a whiteout references
  the path it hides with size 0, or, when that path was a directory in the layers below,
  with the summed size of that directory's subtree; opaque markers are ignored. The score
  is sum(smallest size seen per path) / sum(all sizes seen), and the wasted bytes are the
  summed sizes of the paths referenced more than once.
"""

from __future__ import annotations

import fnmatch
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from dockyard.analyze.model import (
    DuplicateGroup,
    Entry,
    EntryKind,
    Finding,
    LayerInfo,
    LayerReport,
    PathCost,
    Report,
    SizedPath,
)
from dockyard.analyze.rules import RULES, Rule

__all__ = ["OPAQUE", "WHITEOUT", "Analyzer"]

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_META = ".wh..wh."


class _Node:
    """A node of the merged filesystem; ``layer`` is the last layer that wrote it or below it."""

    __slots__ = ("children", "digest", "kind", "layer", "size")

    def __init__(self, kind: EntryKind, size: int, layer: int, digest: str | None) -> None:
        self.kind = kind
        self.size = size
        self.layer = layer
        self.digest = digest
        self.children: dict[str, _Node] | None = {} if kind is EntryKind.DIR else None


class _DiveNode:
    """A node of dive's trees: its payload is only the header size and the directory flag."""

    __slots__ = ("children", "is_dir", "size")

    def __init__(self) -> None:
        self.children: dict[str, _DiveNode] = {}
        self.size = 0
        self.is_dir = False


@dataclass(slots=True)
class _LayerStats:
    info: LayerInfo
    content_size: int = 0
    files_added: int = 0
    files_changed: int = 0
    files_removed: int = 0
    added_bytes: int = 0
    changed_bytes: int = 0
    removed_bytes: int = 0
    tree: _DiveNode = field(default_factory=_DiveNode)


def _walk_sorted(
    node: _DiveNode, parts: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], _DiveNode]]:
    """Children first, names in byte order: the order dive visits a tree in."""
    for name in sorted(node.children):
        child = node.children[name]
        yield from _walk_sorted(child, (*parts, name))
        yield (*parts, name), child


def _dive_subtree_size(node: _DiveNode) -> int:
    total = node.size
    stack = list(node.children.values())
    while stack:
        current = stack.pop()
        total += current.size
        stack.extend(current.children.values())
    return total


def _dive_get(root: _DiveNode, parts: tuple[str, ...]) -> _DiveNode | None:
    node = root
    for name in parts:
        found = node.children.get(name)
        if found is None:
            return None
        node = found
    return node


def _dive_add(root: _DiveNode, parts: tuple[str, ...], size: int, is_dir: bool) -> None:
    """dive's AddPath: implied parents get an empty payload; never a `.wh..wh..` node."""
    node = root
    for name in parts:
        child = node.children.get(name)
        if child is None:
            if name.startswith(_META):
                return
            child = _DiveNode()
            node.children[name] = child
        node = child
    node.size = size
    node.is_dir = is_dir


def _split(key: str) -> tuple[str, ...]:
    return tuple(key.split("/")) if key else ()


def _dive_dir(root: _DiveNode, key: str) -> _DiveNode | None:
    """The parent directory node for an entry (implied parents created, as dive's AddPath
    does); None where a missing ``.wh..wh.`` name blocks the way.
    """
    node = root
    if not key:
        return node
    for name in key.split("/"):
        child = node.children.get(name)
        if child is None:
            if name.startswith(_META):
                return None
            child = _DiveNode()
            node.children[name] = child
        node = child
    return node


def _dive_set(parent: _DiveNode | None, name: str, size: int, is_dir: bool) -> None:
    if parent is None:
        return
    node = parent.children.get(name)
    if node is None:
        if name.startswith(_META):
            return
        node = _DiveNode()
        parent.children[name] = node
    node.size = size
    node.is_dir = is_dir


def _dive_copy(source: _DiveNode, target: _DiveNode) -> None:
    for name, child in source.children.items():
        node = target.children.get(name)
        if node is None:
            node = target.children[name] = _DiveNode()
        node.size = child.size
        node.is_dir = child.is_dir
        if child.children:
            _dive_copy(child, node)


class _Holder:
    """A directory of dive's stacked tree, created only when something is put in it."""

    __slots__ = ("name", "node", "parent")

    def __init__(self, node: _DiveNode | None, parent: _Holder | None, name: str) -> None:
        self.node = node
        self.parent = parent
        self.name = name

    def ensure(self) -> _DiveNode:
        if self.node is None:
            assert self.parent is not None
            parent = self.parent.ensure()
            node = parent.children.get(self.name)
            if node is None:
                node = parent.children[self.name] = _DiveNode()
            self.node = node
        return self.node


def _dive_merge(source: _DiveNode, target: _Holder) -> None:
    """dive's Stack(): the layer's nodes in its order (children first, names in byte order),
    whiteouts removing what they hide from the stacked tree, the rest added or updated.
    """
    for name in sorted(source.children):
        child = source.children[name]
        if child.children:
            existing = target.node.children.get(name) if target.node is not None else None
            _dive_merge(child, _Holder(existing, target, name))
        if name.startswith(WHITEOUT):
            if target.node is not None:
                target.node.children.pop(name[len(WHITEOUT) :], None)
            continue
        parent = target.ensure()
        node = parent.children.get(name)
        if node is None:
            node = parent.children[name] = _DiveNode()
        node.size = child.size
        node.is_dir = child.is_dir


def _dive_trim(parts: tuple[str, ...]) -> tuple[str, ...]:
    name = parts[-1]
    return (*parts[:-1], name[len(WHITEOUT) :]) if name.startswith(WHITEOUT) else parts


class Analyzer:
    """Feed it layers in order (``begin_layer``, ``add`` each entry, ``end_layer``), then ``finish``."""

    def __init__(self, *, top: int = 10) -> None:
        self._top = top
        self._root = _Node(EntryKind.DIR, 0, -1, None)
        self._layers: list[LayerReport] = []
        self._layer_wasted: list[int] = []
        self._current: _LayerStats | None = None
        self._dive_stacked = _DiveNode()
        self._dive_refs: dict[str, list[int]] = {}  # path -> [count, cumulative, minimum]
        self._path_waste: dict[str, list[int]] = {}  # path -> [bytes, layer]
        self._overwritten = 0
        self._deleted = 0
        # the last parent directory looked up, in this layer's dive tree and in the merged
        # filesystem (entries of a directory come together in a tar)
        self._dive_parent: _DiveNode | None = None
        self._dive_parent_key = ""
        self._dir_cache: tuple[str, _Node] | None = None

    # -- streaming --------------------------------------------------------------------

    def begin_layer(self, info: LayerInfo) -> None:
        if self._current is not None:
            raise RuntimeError("begin_layer called twice without end_layer")
        self._current = _LayerStats(info=info)
        self._layer_wasted.append(0)
        self._dive_parent = None
        self._dive_parent_key = ""
        self._dir_cache = None

    def add(self, entry: Entry) -> None:
        stats = self._current
        if stats is None:
            raise RuntimeError("add called outside begin_layer/end_layer")
        path = entry.path
        slash = path.rfind("/")
        parent_key = path[:slash] if slash >= 0 else ""
        name = path[slash + 1 :]
        stats.content_size += entry.size
        # dive's tree of this layer: nodes are only ever added, so the parent stays valid
        if parent_key != self._dive_parent_key or self._dive_parent is None:
            self._dive_parent = _dive_dir(stats.tree, parent_key)
            self._dive_parent_key = parent_key
        _dive_set(self._dive_parent, name, entry.size, entry.kind is EntryKind.DIR)
        if not name.startswith(WHITEOUT):
            self._put(parent_key, name, entry, stats)
        elif name == OPAQUE:
            self._opaque(_split(parent_key), stats)
        elif not name.startswith(_META):  # other AUFS metadata (.wh..wh.plnk): not content
            self._whiteout((*_split(parent_key), name[len(WHITEOUT) :]), stats)

    def end_layer(self, *, size: int) -> LayerReport:
        """Close the current layer; ``size`` is its uncompressed tar size."""
        stats = self._stats()
        index = stats.info.index
        self._dive_account(stats.tree, index)
        self._dive_stack(stats.tree, index)
        info = stats.info
        report = LayerReport(
            index=index,
            digest=info.digest,
            diff_id=info.diff_id,
            media_type=info.media_type,
            instruction=info.instruction,
            comment=info.comment,
            compressed_size=info.compressed_size,
            size=size,
            content_size=stats.content_size,
            files_added=stats.files_added,
            files_changed=stats.files_changed,
            files_removed=stats.files_removed,
            added_bytes=stats.added_bytes,
            changed_bytes=stats.changed_bytes,
            removed_bytes=stats.removed_bytes,
            wasted_bytes=0,  # known only at the end
        )
        self._layers.append(report)
        self._current = None
        return report

    def _stats(self) -> _LayerStats:
        if self._current is None:
            raise RuntimeError("add/end_layer called outside begin_layer/end_layer")
        return self._current

    # -- the merged filesystem --------------------------------------------------------

    def _dir(self, parts: tuple[str, ...], layer: int, *, create: bool) -> _Node | None:
        node = self._root
        for index, name in enumerate(parts):
            assert node.children is not None
            child = node.children.get(name)
            if child is None or child.children is None:
                if not create:
                    return None
                if child is not None:  # a file where a directory is needed: it goes
                    self._discard(parts[: index + 1], child, self._stats(), deleted=True)
                child = _Node(EntryKind.DIR, 0, layer, None)
                node.children[name] = child
            if create:
                child.layer = layer
            node = child
        return node

    def _put(self, parent_key: str, name: str, entry: Entry, stats: _LayerStats) -> None:
        layer = stats.info.index
        cached = self._dir_cache
        if cached is not None and cached[0] == parent_key:
            parent = cached[1]
        else:
            found = self._dir(_split(parent_key), layer, create=True)
            assert found is not None
            parent = found
            self._dir_cache = (parent_key, parent)
        assert parent.children is not None
        old = parent.children.get(name)
        if entry.kind is EntryKind.DIR:
            if old is not None and old.children is not None:
                old.layer = layer
                return
            if old is not None:
                self._discard((*_split(parent_key), name), old, stats, deleted=False)
            parent.children[name] = _Node(EntryKind.DIR, 0, layer, None)
            return
        if old is None:
            stats.files_added += 1
            stats.added_bytes += entry.size
        else:
            stats.files_changed += 1
            stats.changed_bytes += entry.size
            self._discard((*_split(parent_key), name), old, stats, deleted=old.children is not None)
        parent.children[name] = _Node(entry.kind, entry.size, layer, entry.digest)

    def _whiteout(self, parts: tuple[str, ...], stats: _LayerStats) -> None:
        self._dir_cache = None
        parent = self._dir(parts[:-1], stats.info.index, create=False)
        if parent is None or parent.children is None:
            return
        old = parent.children.pop(parts[-1], None)
        if old is not None:
            self._discard(parts, old, stats, deleted=True)

    def _opaque(self, parts: tuple[str, ...], stats: _LayerStats) -> None:
        self._dir_cache = None
        layer = stats.info.index
        directory = self._dir(parts, layer, create=True)
        assert directory is not None
        self._hide_lower(directory, parts, layer, stats)

    def _hide_lower(
        self, directory: _Node, parts: tuple[str, ...], layer: int, stats: _LayerStats
    ) -> None:
        assert directory.children is not None
        for name, child in list(directory.children.items()):
            if child.layer < layer:
                del directory.children[name]
                self._discard((*parts, name), child, stats, deleted=True)
            elif child.children is not None:
                self._hide_lower(child, (*parts, name), layer, stats)

    def _discard(
        self, parts: tuple[str, ...], node: _Node, stats: _LayerStats, *, deleted: bool
    ) -> None:
        """Account for a subtree that leaves the filesystem (deleted, or replaced if not)."""
        self._dir_cache = None
        stack = [(parts, node)]
        while stack:
            path, current = stack.pop()
            if current.children is not None:
                stack.extend(((*path, n), c) for n, c in current.children.items())
                continue
            if deleted:
                stats.files_removed += 1
                stats.removed_bytes += current.size
                self._deleted += current.size
            else:
                self._overwritten += current.size
            if current.size:
                if 0 <= current.layer < len(self._layer_wasted):
                    self._layer_wasted[current.layer] += current.size
                key = "/" + "/".join(path)
                cost = self._path_waste.get(key)
                if cost is None:
                    self._path_waste[key] = [current.size, current.layer]
                else:
                    cost[0] += current.size

    # -- dive's view --------------------------------------------------------------------

    def _dive_account(self, tree: _DiveNode, index: int) -> None:
        """dive's Efficiency() visitor over one layer's leaves, quirks included."""
        below = tree if index == 0 else self._dive_stacked
        self._dive_visit(tree, "", [], below)

    def _dive_visit(self, node: _DiveNode, prefix: str, parts: list[str], below: _DiveNode) -> bool:
        """The leaves under ``node`` in dive's order (names in byte order, children first);
        False once dive would stop visiting the layer.
        """
        refs = self._dive_refs
        children = node.children
        for name in sorted(children):
            child = children[name]
            if child.children:
                parts.append(name)
                going = self._dive_visit(child, f"{prefix}/{name}", parts, below)
                parts.pop()
                if not going:
                    return False
                continue
            if name.startswith(WHITEOUT):
                target = name[len(WHITEOUT) :]
                key = f"{prefix}/{target}"
                ref = refs.get(key)
                if ref is None:
                    ref = refs[key] = [0, 0, -1]  # -1: no size seen yet
                hidden = _dive_get(below, (*parts, target))
                if hidden is None:
                    # dive stops visiting this layer here, leaving the path's minimum at -1
                    return False
                size = _dive_subtree_size(hidden) if hidden.is_dir else 0
            else:
                key = f"{prefix}/{name}"
                ref = refs.get(key)
                if ref is None:
                    ref = refs[key] = [0, 0, -1]
                size = child.size
            ref[0] += 1
            ref[1] += size
            ref[2] = size if ref[2] < 0 or size < ref[2] else ref[2]
        return True

    def _dive_stack(self, tree: _DiveNode, index: int) -> None:
        if index == 0:  # dive stacks the first layer onto a copy of itself
            _dive_copy(tree, self._dive_stacked)
        _dive_merge(tree, _Holder(self._dive_stacked, None, ""))

    # -- the result ---------------------------------------------------------------------

    def finish(self, *, image: str = "", digest: str = "", platform: str = "") -> Report:
        if self._current is not None:
            raise RuntimeError("finish called inside a layer")
        top = self._top
        total = sum(ref[1] for ref in self._dive_refs.values())
        minimum = sum(ref[2] for ref in self._dive_refs.values())
        efficiency = 1.0 if total == 0 else minimum / total
        repeated = [(key, ref) for key, ref in self._dive_refs.items() if ref[0] > 1]
        wasted = sum(ref[1] for _, ref in repeated)
        size_bytes = sum(layer.content_size for layer in self._layers)
        user_size = size_bytes - (self._layers[0].content_size if self._layers else 0)
        inefficiencies = tuple(
            PathCost(key, ref[0], ref[1])
            for key, ref in sorted(repeated, key=lambda kv: (-kv[1][1], kv[0]))[:top]
        )
        wasted_paths = tuple(
            SizedPath(key, cost[0], cost[1])
            for key, cost in heapq.nsmallest(
                top, self._path_waste.items(), key=lambda kv: (-kv[1][0], kv[0])
            )
        )

        files: list[tuple[str, _Node]] = []
        dirs: list[tuple[str, int, int]] = []
        groups: dict[str, list[tuple[str, int]]] = {}
        final_size = self._final_walk(self._root, "", files, dirs, groups)
        duplicates = sorted(
            (
                DuplicateGroup(
                    dg, entries[0][1], len(entries), tuple(sorted(p for p, _ in entries))[:top]
                )
                for dg, entries in groups.items()
                if len(entries) > 1
            ),
            key=lambda g: (-g.wasted_bytes, g.paths),
        )
        duplicate_bytes = sum(g.wasted_bytes for g in duplicates)
        largest_files = tuple(
            SizedPath(path, node.size, node.layer)
            for path, node in heapq.nsmallest(top, files, key=lambda pn: (-pn[1].size, pn[0]))
            if node.size
        )
        largest_dirs = tuple(
            SizedPath(path, size, layer)
            for path, size, layer in heapq.nsmallest(top, dirs, key=lambda d: (-d[1], d[0]))
            if size
        )
        layers = tuple(
            _with_wasted(layer, self._layer_wasted[layer.index])
            if layer.index < len(self._layer_wasted)
            else layer
            for layer in self._layers
        )
        return Report(
            image=image,
            digest=digest,
            platform=platform,
            layers=layers,
            size_bytes=size_bytes,
            compressed_size=sum(layer.compressed_size for layer in layers),
            uncompressed_size=sum(layer.size for layer in layers),
            final_size=final_size,
            final_files=len(files),
            efficiency=efficiency,
            wasted_bytes=wasted,
            user_wasted_percent=wasted / user_size if user_size else 0.0,
            inefficiencies=inefficiencies,
            overwritten_bytes=self._overwritten,
            deleted_bytes=self._deleted,
            duplicate_bytes=duplicate_bytes,
            wasted_paths=wasted_paths,
            duplicates=tuple(duplicates[:top]),
            largest_files=largest_files,
            largest_dirs=largest_dirs,
            findings=tuple(self._findings()),
        )

    def _final_walk(
        self,
        node: _Node,
        path: str,
        files: list[tuple[str, _Node]],
        dirs: list[tuple[str, int, int]],
        groups: dict[str, list[tuple[str, int]]],
    ) -> int:
        assert node.children is not None
        total = 0
        for name, child in node.children.items():
            child_path = f"{path}/{name}"
            if child.children is not None:
                total += self._final_walk(child, child_path, files, dirs, groups)
                continue
            total += child.size
            files.append((child_path, child))
            if child.digest is not None and child.kind is EntryKind.FILE:
                groups.setdefault(child.digest, []).append((child_path, child.size))
        if path:
            dirs.append((path, total, node.layer))
        return total

    def _findings(self) -> Iterator[Finding]:
        for rule in RULES:
            finding = self._match_rule(rule)
            if finding is not None:
                yield finding

    def _match_rule(self, rule: Rule) -> Finding | None:
        matched: dict[str, _Node] = {}
        for pattern in rule.patterns:
            parts = tuple(p for p in pattern.split("/") if p)
            for path, node in self._glob(self._root, "", parts):
                matched.setdefault(path, node)
        # a match inside another match of the same rule is already counted
        keep: list[tuple[str, _Node]] = []
        for path in sorted(matched):
            if keep and path.startswith(keep[-1][0] + "/"):
                continue
            keep.append((path, matched[path]))
        sized = [(path, *_size_and_layers(node)) for path, node in keep]
        total = sum(size for _, size, _ in sized)
        if total == 0:
            return None
        layers = sorted({layer for _, _, ls in sized for layer in ls})
        paths = tuple(
            SizedPath(path, size, max(ls) if ls else -1)
            for path, size, ls in sorted(sized, key=lambda s: (-s[1], s[0]))[: self._top]
            if size
        )
        return Finding(rule.id, rule.category, rule.title, total, paths, tuple(layers), rule.hint)

    def _glob(self, node: _Node, path: str, parts: tuple[str, ...]) -> Iterator[tuple[str, _Node]]:
        if not parts:
            yield path, node
            return
        if node.children is None:
            return
        head, rest = parts[0], parts[1:]
        if any(c in head for c in "*?["):
            for name in sorted(fnmatch.filter(node.children, head)):
                yield from self._glob(node.children[name], f"{path}/{name}", rest)
        else:
            child = node.children.get(head)
            if child is not None:
                yield from self._glob(child, f"{path}/{head}", rest)


def _size_and_layers(node: _Node) -> tuple[int, set[int]]:
    total = 0
    layers: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.children is not None:
            stack.extend(current.children.values())
        elif current.size:
            total += current.size
            layers.add(current.layer)
    return total, layers


def _with_wasted(layer: LayerReport, wasted: int) -> LayerReport:
    return replace(layer, wasted_bytes=wasted)
