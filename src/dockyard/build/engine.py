"""The build solver: plan the stages, run each step (or reuse it from the cache), export the image."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.build import cache_io, executor, replay
from dockyard.build.context import BuildContext, Selection
from dockyard.build.keys import KeyInputs
from dockyard.build.layer import LayerBlob, write_layer_from_dir
from dockyard.build.layers import CachedStep, Layer, LayerCache
from dockyard.build.options import BuildOptions
from dockyard.build.remote import BuiltStep, StepSink, StepSource
from dockyard.build.runner import StageRunner
from dockyard.build.snapshot import Snapshotter
from dockyard.build.ssh import SshAgents
from dockyard.build.stage import (
    DEFAULT_PATH_ENV,
    StageState,
    fill_history_times,
    now,
)
from dockyard.dockerfile import (
    BuildPlan,
    RunInstruction,
    Stage,
    load,
)
from dockyard.errors import (
    BuildContextError,
    BuildError,
    DockyardError,
    NotFoundError,
    UsageError,
)
from dockyard.image import Image
from dockyard.image.content import select_platform
from dockyard.oci import (
    ContainerConfig,
    Descriptor,
    Digest,
    HistoryEntry,
    ImageConfig,
    Manifest,
    Reference,
    mediatypes,
)
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink
from dockyard.store.store import Store, ref_key
from dockyard.transport.transport import TransportOptions, open_source

__all__ = ["BuildResult", "StageResult", "build"]

_DOCKERFILE_LIMIT = 4 << 20


@dataclass(frozen=True, slots=True)
class StageResult:
    """A finished stage: its layers, its config (with history) and its filesystem key."""

    index: int
    name: str | None
    layers: tuple[Layer, ...]
    config: ImageConfig
    key: str


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What ``dockyard build`` produced."""

    image_digest: Digest  # the manifest digest
    config_digest: Digest  # the image ID, as docker shows it
    manifest: Manifest
    config: ImageConfig
    tags: tuple[str, ...]
    cache_hits: int
    cache_misses: int
    steps: tuple[dict[str, Any], ...] = field(default=())

    def metadata(self) -> dict[str, Any]:
        """The ``--metadata-file`` document, with buildx's key names."""
        out: dict[str, Any] = {
            "containerimage.digest": str(self.image_digest),
            "containerimage.config.digest": str(self.config_digest),
            "containerimage.descriptor": self.manifest.descriptor().to_dict(),
            "dockyard.cache": {
                "hits": self.cache_hits,
                "misses": self.cache_misses,
                "steps": list(self.steps),
            },
        }
        if self.tags:
            out["image.name"] = ",".join(self.tags)
        return out


def _rfc3339(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class _Base:
    """A resolved base image: its layers (as build layers), config and where blobs come from."""

    layers: tuple[Layer, ...]
    config: ImageConfig
    key: str
    source: Image | None


class _StepCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.steps: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any], *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1
            self.steps.append(entry)


class Builder:
    """Runs one build: stages in parallel threads, steps bounded by ``jobs``."""

    def __init__(self, options: BuildOptions, progress: ProgressSink) -> None:
        self.options = options
        self.progress = progress
        self.store = Store.open()
        self.cache = LayerCache(self.store)
        self.snapshots = Snapshotter(self.store.home / "snapshots")
        self.ssh = SshAgents(options.ssh, self.store.home / "tmp")
        self.jobs = threading.BoundedSemaphore(options.jobs or os.cpu_count() or 2)
        self.counter = _StepCounter()
        self._context: BuildContext | None = None
        self._context_lock = threading.Lock()
        self._named: dict[str, BuildContext] = {}
        self.sources: list[StepSource]  # imported --cache-from caches
        self.sinks: list[StepSink]  # --cache-to exports (the last one: local cache upkeep)
        self.sources, self.sinks = cache_io.configure(
            options.cache_from,
            options.cache_to,
            self.store,
            platform=options.platform,
            insecure=options.insecure_registries,
            progress=progress,
        )
        self._built: list[tuple[CachedStep, str]] = []
        self._built_lock = threading.Lock()
        self._images: dict[str, _Base] = {}
        self._images_lock = threading.Lock()
        # What a build record must hold (see replay): store tags and digests the build
        # read, tags it wrote, warnings it gave, and why it cannot be replayed (if so).
        self.read_tags: dict[str, str] = {}
        self.read_blobs: set[str] = set()
        self.written_tags: dict[str, str] = {}
        self.warnings: list[str] = []
        self.replay_blockers: list[str] = []
        self._dockerfile_cache: str | None = None
        self.dockerfile_name = str(options.dockerfile) if options.dockerfile else "Dockerfile"
        args = dict(options.build_args)
        sde = args.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
        try:
            self.source_date_epoch = int(sde) if sde else None
        except ValueError as exc:
            raise UsageError(f"SOURCE_DATE_EPOCH={sde!r} is not a number of seconds") from exc

    # -- inputs ------------------------------------------------------------------------------
    def named_context(self, name: str) -> BuildContext | None:
        """A ``--build-context NAME=DIR`` directory, used like the main context; else None."""
        for ctx in self.options.build_contexts:
            if ctx.name == name and ctx.kind == "local":
                with self._context_lock:
                    found = self._named.get(name)
                    if found is None:
                        found = self._named[name] = BuildContext(Path(ctx.value))
                    return found
        return None

    def context(self) -> BuildContext:
        with self._context_lock:
            if self._context is None:
                if self.options.context is None:
                    raise BuildContextError(
                        "this build has no context (Dockerfile from stdin)",
                        hint="pass a context directory to COPY or ADD local files",
                    )
                self._context = BuildContext(self.options.context)
            return self._context

    def _dockerfile_text(self) -> str:
        if self.options.dockerfile_text is not None:
            return self.options.dockerfile_text
        if self._dockerfile_cache is None:
            self._dockerfile_cache = self._read_dockerfile()
        return self._dockerfile_cache

    def _read_dockerfile(self) -> str:
        assert self.options.dockerfile is not None
        try:
            with self.options.dockerfile.open("rb") as stream:
                data = stream.read(_DOCKERFILE_LIMIT + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {self.options.dockerfile}: {exc.strerror}") from exc
        if len(data) > _DOCKERFILE_LIMIT:
            raise UsageError(
                f"{self.options.dockerfile} is larger than 4 MiB; is it really a Dockerfile?"
            )
        return data.decode("utf-8", "surrogateescape")

    def plan(self) -> BuildPlan:
        platform = self.options.platform
        return load(
            self._dockerfile_text(),
            filename=self.dockerfile_name,
            build_args=self.options.build_args,
            target=self.options.target,
            platform=platform,
        )

    # -- the whole build ----------------------------------------------------------------------
    def run(self) -> BuildResult:
        stamp = self._stamp()
        try:
            result = self._run()
        except BaseException:
            self._keep_what_was_built()
            raise
        finally:
            self.ssh.close()
        if stamp is not None:
            self._write_record(stamp, result)
        return result

    # -- build records ----------------------------------------------------------------------------
    def _stamp(self) -> replay.Stamp | None:
        """Stamp the inputs before anything reads them, when the CLI asked for a record."""
        if self.options.record is None or self.options.context is None:
            return None
        dockerfile = self._dockerfile_text().encode("utf-8", "surrogateescape")
        return replay.take_stamp(self.options.context, dockerfile)

    def block_replay(self, reason: str) -> None:
        """Note why this build's result may not be answered from a record next time."""
        with self._images_lock:
            self.replay_blockers.append(reason)

    def _write_record(self, stamp: replay.Stamp, result: BuildResult) -> None:
        assert self.options.record is not None
        if stamp.racy or self.replay_blockers:
            return
        if set(self.read_tags) & set(self.written_tags):
            return  # FROM app, -t app: the next build starts from this result
        tags = {**self.read_tags, **self.written_tags}
        held, tags_state = replay.settle_tags(tags, self.store.home) if tags else (True, None)
        if not held:
            return  # a tag moved while we built: the next build decides afresh
        blobs = {
            str(result.image_digest),
            str(result.config_digest),
            *(str(layer.digest) for layer in result.manifest.layers),
            *self.written_tags.values(),
            *self.read_blobs,
        }
        replay.write_record(
            self.options.record,
            {
                "head": stamp.head,
                "stamp": stamp.entries,
                "ignored": stamp.ignored,
                "tags": tags,
                "tags_state": tags_state,
                "blobs": sorted(blobs),
                "metadata": result.metadata(),
                "warnings": list(self.warnings),
                "built": now(),
            },
            self.store.home,
        )

    def _keep_what_was_built(self) -> None:
        """After a failed build, still root the layers its finished steps made (cache upkeep)."""
        from dockyard.build.cache_admin import Housekeeping

        steps = [BuiltStep(step, stage, False) for step, stage in self._built]
        for sink in self.sinks:
            if isinstance(sink, Housekeeping):
                try:
                    sink.export(steps, self.store)
                except DockyardError as exc:
                    self._warn(f"cache upkeep after the failed build: {exc}")

    def _run(self) -> BuildResult:
        plan = self.plan()
        for warning in plan.dockerfile.warnings:  # empty continuation lines, as BuildKit warns
            self._warn(warning.removeprefix("[WARNING]: "))
        for name in plan.unused_build_args:
            if name != "SOURCE_DATE_EPOCH":
                self._warn(f"build-arg {name!r} was not consumed by any instruction")
        if any(
            isinstance(i, RunInstruction)
            for s in plan.reachable
            for i in plan.stages[s].instructions
        ):
            executor.check_executor()
        futures: dict[int, Future[StageResult]] = {}
        with ThreadPoolExecutor(
            max_workers=max(len(plan.reachable), 1), thread_name_prefix="stage"
        ) as pool:
            for index in plan.reachable:
                futures[index] = pool.submit(self._build_stage, plan, plan.stages[index], futures)
            try:
                final = futures[plan.target].result()
                for future in futures.values():
                    future.result()
            except BaseException:
                for future in futures.values():
                    future.cancel()
                raise
        result = self._finish(final)
        chain: set[str] = set()
        link: int | None = plan.target
        while link is not None:
            chain.add(plan.stages[link].display_name)
            link = plan.stages[link].base_stage
        self._export_cache(chain)
        return result

    def _export_cache(self, chain: set[str]) -> None:
        """Hand every step to the --cache-to exporters; a failed export is only a warning."""
        if not self.sinks:
            return
        steps = [BuiltStep(step, stage, stage in chain) for step, stage in self._built]
        failed: DockyardError | None = None
        for sink in self.sinks:
            try:
                sink.export(steps, self.store)
            except DockyardError as exc:
                if not getattr(sink, "ignore_error", True):  # --cache-to ...,ignore-error=false
                    failed = failed or exc
                    continue
                self._warn(f"cache export failed (the build itself succeeded): {exc}")
        if failed is not None:
            raise failed

    # -- the cache ------------------------------------------------------------------------------
    def lookup(self, key: str) -> CachedStep | None:
        """A cached step: the local cache first, then each imported cache in order.

        A step found in an imported cache has its layer blob fetched into the store and is
        recorded locally, so the next build finds it without the network. An imported
        cache that fails is a warning: the step is then simply built.
        """
        hit = self.cache.lookup(key)
        if hit is not None:
            return hit
        for source in self.sources:
            try:
                found = source.lookup(key)
                if found is None:
                    continue
                if found.layer is not None and not self.store.has_blob(found.layer.blob.digest):
                    with self.store.writing():
                        source.fetch(found.layer, self.store)
                return self.cache.record(found.inputs, found.layer)
            except DockyardError as exc:
                self._warn(f"cache import failed, building instead: {exc}")
        return None

    def built(self, step: CachedStep, stage: str) -> None:
        """Remember a step of this build for the cache exporters."""
        with self._built_lock:
            self._built.append((step, stage))

    def _warn(self, message: str) -> None:
        with self._built_lock:
            self.warnings.append(message)
        self.progress(Event("build", EventKind.WARNING, message))

    # -- base images ------------------------------------------------------------------------
    def resolve_image(self, name: str) -> _Base:
        """A base image by name: ``scratch``, a --build-context, or the local store."""
        with self._images_lock:
            found = self._images.get(name)
            if found is not None:
                return found
        base = self._load_image(name)
        with self._images_lock:
            self._images.setdefault(name, base)
        return base

    def _load_image(self, name: str) -> _Base:
        if name == "scratch":
            return _Base((), self._scratch_config(), "scratch", None)
        directory = self.named_context(name)
        if directory is not None:
            return self._directory_base(name, directory)
        source = self._open_image(name)
        manifest = source.manifest
        config = source.config()
        if len(config.diff_ids) != len(manifest.layers):
            raise BuildError(
                f"image {name}: its config lists {len(config.diff_ids)} layers, its manifest {len(manifest.layers)}"
            )
        # Blobs are copied into the store only when the image needs them (an exported
        # base layer); a step reads (extracts) them straight from the source.
        for blob in manifest.layers:
            self.cache.add_origin(blob.digest, source)
        layers = tuple(
            Layer(
                diff_id,
                Descriptor(blob.media_type, blob.digest, blob.size),
                created=h.created,
                created_by=h.created_by,
            )
            for diff_id, blob, h in zip(
                config.diff_ids, manifest.layers, _layer_history(config), strict=True
            )
        )
        return _Base(layers, config, f"image:{manifest.digest}", source)

    def _scratch_config(self) -> ImageConfig:
        platform = self.options.platform
        return ImageConfig(
            architecture=platform.architecture,
            os=platform.os,
            variant=platform.variant,
            config=ContainerConfig(env=(DEFAULT_PATH_ENV,)),
        )

    def _directory_base(self, name: str, context: BuildContext) -> _Base:
        """``FROM name`` where ``--build-context name=DIR``: the directory is the root filesystem.

        As with BuildKit's local sources: one layer holding the directory's files (its
        ``.dockerignore`` applied, owned by root, modes and times kept), no image config
        but the scratch defaults. Its key is the content digest of those files, so an
        unchanged directory reuses the layer.
        """
        selection = context.select(["."])
        inputs = KeyInputs.of(
            "from-context", "scratch", [("content", selection.digest), *self.layer_inputs()]
        )
        hit = None if self.options.no_cache else self.lookup(inputs.key)
        layer = hit.layer if hit is not None else self._directory_layer(context, selection, name)
        if hit is None:
            self.cache.record(inputs, layer)
        history = (
            (HistoryEntry(created=layer.created, created_by=layer.created_by),) if layer else ()
        )
        config = self._scratch_config().evolve(history=history)
        return _Base((layer,) if layer else (), config, f"context:{inputs.key}", None)

    def _directory_layer(
        self, context: BuildContext, selection: Selection, name: str
    ) -> Layer | None:
        from dockyard.build.copy import CopyRequest, copy_selection

        tmp = self.store.home / "tmp"
        with tempfile.TemporaryDirectory(dir=tmp, prefix="from-context-") as scratch:
            root = Path(scratch) / "root"
            root.mkdir()
            request = CopyRequest(sources=(".",), dest="/", dest_is_dir=True)
            copy_selection(context.root, selection.matches, root, request)
            blob = write_layer_from_dir(root, tmp, source_date_epoch=self.source_date_epoch)
            return self.keep_layer(blob, _mover(root), f"FROM {name} (a directory)")

    # -- new layers ---------------------------------------------------------------------------------
    def layer_inputs(self) -> list[tuple[str, Any]]:
        """Key inputs every layer step shares: what changes the bytes of any layer."""
        out: list[tuple[str, Any]] = [
            ("platform", str(self.options.platform)),
            ("compression", "gzip"),
        ]
        if self.source_date_epoch is not None:
            out.append(("source-date-epoch", str(self.source_date_epoch)))
        return out

    def keep_layer(
        self, blob: LayerBlob, keep_dir: Callable[[Path], None], created_by: str
    ) -> Layer | None:
        """A new layer: its blob moved into the store, its directory into the layer cache.

        ``keep_dir`` moves the directory to the path it is given, and is called only when
        that layer is not in the cache yet. None when the layer came out empty.
        """
        try:
            if blob.entries == 0:
                return None
            descriptor = Descriptor(blob.media_type, Digest.parse(blob.digest), blob.size)
            with self.store.writing():  # hashed as it was written: moved, not copied
                self.store.adopt_blob(blob.path, descriptor)
            diff_id = Digest.parse(blob.diff_id)
            target = self.cache.layer_dir(diff_id)
            if not target.exists():
                keep_dir(target)
                self.cache.remember_size(diff_id, blob.uncompressed_size)
            return Layer(diff_id, descriptor, created=now(), created_by=created_by)
        finally:
            blob.path.unlink(missing_ok=True)

    def _open_image(self, name: str) -> Image:
        """Open a base image: a matching --build-context first, else the store, else its registry."""
        target = name
        for ctx in self.options.build_contexts:
            if ctx.name != name:
                continue
            if ctx.kind == "oci-layout":
                target = f"oci:{ctx.value}"
            elif ctx.kind == "docker-image":
                target = ctx.value
            else:  # a directory: _load_image takes it before this
                raise BuildError(f"--build-context {ctx.name}={ctx.value} is not an image")
            self.block_replay(f"{name} comes from --build-context")
            break
        else:
            try:
                reference = Reference.parse(name)
            except DockyardError as exc:
                raise UsageError(
                    f"invalid base image name {name!r}: {exc.message}", hint=exc.hint
                ) from exc
            local = self._from_store(reference)
            if local is not None:
                return local
            self.block_replay(f"{name} comes from its registry")
        with TransportOptions(insecure=self.options.insecure_registries, store=self.store) as opts:
            return select_platform(open_source(target, options=opts), self.options.platform)

    def _from_store(self, reference: Reference) -> Image | None:
        """The image a reference names in the local store (noted for the build record)."""
        try:
            descriptor = self.store.resolve(reference)
        except NotFoundError:
            return None
        with self._images_lock:
            if reference.digest is not None:
                self.read_blobs.add(str(descriptor.digest))
            else:
                self.read_tags[ref_key(reference)] = str(descriptor.digest)
        source = self.store.open_descriptor(descriptor)
        return select_platform(source, self.options.platform)

    # -- one stage ------------------------------------------------------------------------------
    def _build_stage(
        self, plan: BuildPlan, stage: Stage, futures: dict[int, Future[StageResult]]
    ) -> StageResult:
        deps = {dep: futures[dep].result() for dep in sorted(stage.deps)}
        if stage.base_stage is not None:
            parent = deps[stage.base_stage]
            state = StageState(
                layers=list(parent.layers),
                config=parent.config.config,
                image=parent.config,
                key=parent.key,
                history=list(parent.config.history),
            )
        else:
            assert stage.base_image is not None
            base = self.resolve_image(stage.base_image)
            state = StageState(
                layers=list(base.layers),
                config=base.config.config,
                image=base.config,
                key=base.key,
                history=list(base.config.history),
            )
        triggers = state.config.on_build
        if triggers:
            state.config = dataclasses.replace(state.config, on_build=())
        runner = StageRunner(self, plan, stage, state, deps)
        runner.run_triggers(triggers)
        runner.run()
        config = state.image.evolve(
            architecture=state.image.architecture or self.options.platform.architecture,
            os=state.image.os or self.options.platform.os,
            config=state.config,
            diff_ids=tuple(layer.diff_id for layer in state.layers),
            history=tuple(state.history),
            author=state.author or state.image.author,
        )
        return StageResult(stage.index, stage.name, tuple(state.layers), config, state.key)

    # -- finishing ------------------------------------------------------------------------------
    def _finish(self, final: StageResult) -> BuildResult:
        history = fill_history_times(final.config.history)
        created = (
            _rfc3339(self.source_date_epoch)
            if self.source_date_epoch is not None
            else _latest(history)
        )
        config = final.config.evolve(created=created, history=tuple(history))
        if self.source_date_epoch is not None:
            config = config.evolve(
                history=tuple(dataclasses.replace(h, created=created) for h in config.history),
                created=created,
            )
        config = cache_io.apply_inline_cache(
            config, [step for step, _ in self._built], final.key, self.options.cache_to
        )
        config_bytes = config.to_json()
        for layer in final.layers:
            self.cache.ensure_in_store(layer)
        with self.store.writing():
            config_desc = self.store.put_bytes(config_bytes, mediatypes.OCI_CONFIG)
            layers = [layer.blob for layer in final.layers]
            manifest = Manifest.build(
                Descriptor(mediatypes.OCI_CONFIG, config_desc.digest, config_desc.size), layers
            )
            self.store.put_bytes(manifest.raw, mediatypes.OCI_MANIFEST)
            self.store.set_root(f"build-{config_desc.digest.hex[:16]}", [manifest.digest])
        from dockyard.build.export import export

        export(self, manifest, final)
        return BuildResult(
            image_digest=manifest.digest,
            config_digest=config_desc.digest,
            manifest=manifest,
            config=config,
            tags=self.options.tags,
            cache_hits=self.counter.hits,
            cache_misses=self.counter.misses,
            steps=tuple(self.counter.steps),
        )


def _mover(source: Path) -> Callable[[Path], None]:
    """Move ``source`` to a target; a target another build made meanwhile is left as it is."""

    def move(target: Path) -> None:
        with contextlib.suppress(OSError):
            source.rename(target)

    return move


def _layer_history(config: ImageConfig) -> list[HistoryEntry]:
    """History entries that made layers, aligned with the layers (padded when missing)."""
    entries = [h for h in config.history if not h.empty_layer]
    missing = len(config.diff_ids) - len(entries)
    return entries[: len(config.diff_ids)] + [HistoryEntry()] * max(missing, 0)


def _latest(history: list[HistoryEntry]) -> str:
    """The image's creation time, as BuildKit sets it: the last time in its history."""
    stamps = [h.created for h in history if h.created]
    return stamps[-1] if stamps else now()


def build(options: BuildOptions, *, progress: ProgressSink = NULL_SINK) -> BuildResult:
    """Build what ``options`` asks for and write it to every requested output."""
    return Builder(options, progress).run()
