"""Running one stage: each instruction expanded, then applied to the config or run as a cached step."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.build import executor, git
from dockyard.build.copy import CopyRequest, copy_into, copy_selection, resolve_dest
from dockyard.build.fetch import Download, download, is_url
from dockyard.build.keys import KeyInputs
from dockyard.build.layer import Compression, write_layer_from_upper
from dockyard.build.layers import CachedStep, Layer
from dockyard.build.snapshot import readonly_view
from dockyard.build.stage import (
    StageState,
    apply_metadata,
    created_by,
    join_workdir,
)
from dockyard.dockerfile import (
    AddInstruction,
    ArgInstruction,
    BuildPlan,
    CopyInstruction,
    Instruction,
    Mount,
    RunInstruction,
    Stage,
    WorkdirInstruction,
    arg_value,
    expand_heredoc,
    expand_instruction,
    expand_mount,
    from_ast,
    parse,
)
from dockyard.errors import (
    BuildContextError,
    BuildError,
    DockerfileError,
    NotImplementedYetError,
    UsageError,
)
from dockyard.oci import (
    Digest,
    HistoryEntry,
)
from dockyard.progress import Event, EventKind

if TYPE_CHECKING:
    from dockyard.build.engine import Builder, StageResult

__all__ = ["StageRunner"]


class StageRunner:
    """Evaluates one stage's instructions in order on its state."""

    def __init__(
        self,
        builder: Builder,
        plan: BuildPlan,
        stage: Stage,
        state: StageState,
        deps: dict[int, StageResult],
    ) -> None:
        self.b = builder
        self.plan = plan
        self.stage = stage
        self.state = state
        self.deps = deps
        self.escape = plan.dockerfile.escape_token
        self.global_args = dict(plan.global_args)
        self.position = 0
        self.total = len(stage.instructions)

    # -- driving ---------------------------------------------------------------------------------
    def run_triggers(self, triggers: Sequence[str]) -> None:
        for trigger in triggers:
            try:
                _, stages = from_ast(parse(f"FROM scratch\n{trigger}\n", filename="ONBUILD"))
            except DockerfileError as exc:
                raise BuildError(
                    f"invalid ONBUILD trigger {trigger!r} in the base image: {exc.message}"
                ) from exc
            for instr in stages[0].instructions:
                self.execute(instr, label=f"ONBUILD {trigger}")

    def run(self) -> None:
        for position, instr in enumerate(self.stage.instructions, start=1):
            self.position = position
            self.execute(instr)

    def _title(self, instr: Instruction) -> str:
        """``[build 2/5] RUN ...``; unnamed stages are ``stage-N``, as BuildKit shows them."""
        name = self.stage.name or f"stage-{self.stage.index}"
        return f"[{name} {self.position}/{self.total}] {instr.original.strip()}"

    def execute(self, instr: Instruction, *, label: str | None = None) -> None:
        state = self.state
        if isinstance(instr, ArgInstruction):
            expanded = expand_instruction(instr, state.expansion_env(), escape_token=self.escape)
            assert isinstance(expanded, ArgInstruction)
            for pair in expanded.pairs:
                value = arg_value(
                    pair, build_args=self.plan.build_args, global_args=self.global_args
                )
                if value is not None:
                    state.args[pair.key] = value
                else:
                    state.args.pop(pair.key, None)
            return
        expanded = expand_instruction(instr, state.expansion_env(), escape_token=self.escape)
        if isinstance(expanded, WorkdirInstruction):
            path = join_workdir(state.workdir(), expanded.path)
            state.config = dataclasses.replace(state.config, working_dir=path)
            self._workdir(expanded, path, label)
            return
        if apply_metadata(state, expanded):
            state.history.append(
                HistoryEntry(
                    created="",  # filled at export, as BuildKit does (fill_history_times)
                    created_by=created_by(expanded),
                    comment="buildkit.dockerfile.v0",
                    empty_layer=True,
                )
            )
            return
        if isinstance(expanded, RunInstruction):
            self._run(expanded, label)
        elif isinstance(expanded, CopyInstruction | AddInstruction):
            self._copy(expanded, label)
        else:  # pragma: no cover - every instruction kind is handled above
            raise BuildError(f"unsupported instruction {type(instr).keyword}")

    # -- layer steps -----------------------------------------------------------------------------
    def _step(
        self,
        instr: Instruction,
        inputs: KeyInputs,
        action: Callable[[Path], None],
        *,
        history: str,
        label: str | None,
        files: dict[str, str] | None = None,
    ) -> None:
        """Reuse the step from the cache, or run ``action`` on a snapshot and keep its layer."""
        b = self.b
        task = f"{self.stage.display_name}/{self.position}/{instr.location.start_line}"
        title = label or self._title(instr)
        b.progress(Event(task, EventKind.START, title))
        identity = f"{b.options.context}\0{b.dockerfile_name}\0{self.stage.display_name}\0{self.position}\0{label or ''}"
        previous, previous_files = b.cache.remember(identity, inputs, files)
        key = inputs.key
        hit = None if b.options.no_cache else b.lookup(key)
        entry: dict[str, Any] = {"step": title, "key": key, "cached": hit is not None}
        if hit is not None:
            b.counter.add(entry, hit=True)
            b.progress(Event(task, EventKind.CACHED, "HIT" if b.options.explain_cache else ""))
            layer = hit.layer
        else:
            reason = self._explain(inputs, previous, files or {}, previous_files)
            entry["reason"] = reason
            if b.options.explain_cache:
                b.progress(Event(task, EventKind.LOG, f"cache MISS: {reason}"))
            layer = self._execute(task, inputs, action, history)
            b.counter.add(entry, hit=False)
            b.progress(Event(task, EventKind.DONE))
        b.built(CachedStep(key, inputs, layer), self.stage.display_name)
        state = self.state
        state.key = key
        if layer is not None:
            state.layers.append(layer)
        state.history.append(
            HistoryEntry(
                created=layer.created if layer is not None else "",
                created_by=history,
                comment="buildkit.dockerfile.v0",
                empty_layer=layer is None,
            )
        )

    def _explain(
        self,
        inputs: KeyInputs,
        previous: KeyInputs | None,
        files: dict[str, str],
        before: dict[str, str],
    ) -> str:
        if self.b.options.no_cache:
            return "--no-cache"
        if previous is None:
            return "no earlier build of this step"
        diff = inputs.first_difference(previous)
        if diff is None:
            return "the cached result was removed (pruned)"
        if diff.name == "parent":
            if (diff.after or "").startswith(("image:", "scratch")):
                return f"base image changed: {diff.before} -> {diff.after}"
            return "an earlier step of this stage was rebuilt"
        if diff.name == "sources":
            told = _sources_change(diff.before, diff.after)
            if told:
                return told
        if diff.name == "sources" and (files or before):
            changed = sorted(
                p for p in files.keys() | before.keys() if files.get(p) != before.get(p)
            )
            if changed:
                shown = ", ".join(
                    f"{p} ({'added' if p not in before else 'removed' if p not in files else 'changed'})"
                    for p in changed[:5]
                )
                more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
                return f"files changed: {shown}{more}"
        return diff.describe()

    def _execute(
        self, task: str, inputs: KeyInputs, action: Callable[[Path], None], history: str
    ) -> Layer | None:
        b = self.b
        lowers = b.cache.ensure_all_extracted(self.state.layers)
        tmp_out = b.store.home / "tmp"
        with b.jobs, b.snapshots.mount(lowers) as snap:
            action(snap.merged)
            blob = write_layer_from_upper(
                snap.upper,
                lowers,
                tmp_out,
                compression=Compression.GZIP,
                source_date_epoch=b.source_date_epoch,
            )
            layer = b.keep_layer(blob, snap.keep_upper, history)
        b.cache.record(inputs, layer)
        del task
        return layer

    # -- WORKDIR -------------------------------------------------------------------------------------
    def _workdir(self, instr: WorkdirInstruction, path: str, label: str | None) -> None:
        user = self.state.config.user

        def mkdir(root: Path) -> None:
            from dockyard.build._scoped import root_path

            if root_path(root, path).exists():
                return
            owner = self._resolve_owner(root, user) if user else (0, 0)
            current = ""
            for part in [p for p in path.split("/") if p]:
                current = f"{current}/{part}"
                host = root_path(root, current)
                if not host.exists():
                    host.mkdir(mode=0o755)
                    host.chmod(0o755)
                    os.lchown(host, *owner)

        inputs = KeyInputs.of(
            "workdir", self.state.key, [("path", path), ("user", user), *self.b.layer_inputs()]
        )
        self._step(instr, inputs, mkdir, history=f"WORKDIR {path}", label=label)

    def _chown(self, root: Path, spec: str) -> tuple[int, int]:
        """COPY --chown: names resolved in the destination's passwd/group; a lone uid is uid:uid."""
        if spec.isdigit():
            return int(spec), int(spec)
        return self._resolve_owner(root, spec)

    def _resolve_owner(self, root: Path, spec: str) -> tuple[int, int]:
        from dockyard.build._scoped import root_path

        def read(path: str) -> str | None:
            try:
                return root_path(root, path).read_text(errors="replace")
            except OSError:
                return None

        user = executor.resolve_user(spec, read("/etc/passwd"), read("/etc/group"))
        return user.uid, user.gid

    # -- RUN -----------------------------------------------------------------------------------------
    def _run(self, instr: RunInstruction, label: str | None) -> None:
        state = self.state
        argv = self._run_argv(instr)
        env = state.run_env()
        network = instr.network or self.b.options.network
        mounts = [
            expand_mount(m, state.expansion_env(), escape_token=self.escape) for m in instr.mounts
        ]
        mount_inputs = [self._mount_identity(m) for m in mounts]
        inputs = KeyInputs.of(
            "run",
            state.key,
            [
                ("command", list(argv)),
                ("env", list(env)),
                ("user", state.config.user),
                ("workdir", state.workdir()),
                ("network", network),
                ("mounts", mount_inputs),
                *self.b.layer_inputs(),
            ],
        )
        task_lines: list[str] = []

        def action(root: Path) -> None:
            with contextlib.ExitStack() as stack:
                run_mounts = [
                    self._mount(stack, m, root)
                    for m in mounts
                    if not (m.type == "secret" and m.env and not m.target)  # env only
                ]
                spec = executor.RunSpec(
                    rootfs=root,
                    args=argv,
                    env=(*env, *self._secret_env(mounts), *_ssh_env(mounts, env)),
                    cwd=state.workdir(),
                    user=state.config.user,
                    # "default" is the host's network, as buildkitd without CNI and as
                    # Kaniko/Buildah give RUN: package installs need it. "none" isolates.
                    network=executor.NetworkMode.NONE
                    if network == "none"
                    else executor.NetworkMode.HOST,
                    mounts=tuple(m for m in run_mounts if m is not None),
                )
                task = f"{self.stage.display_name}/{self.position}/{instr.location.start_line}"

                def output(_stream: str, line: str) -> None:
                    task_lines.append(line)
                    self.b.progress(Event(task, EventKind.LOG, line))

                executor.run(spec, output)

        history = created_by(instr, command=argv)
        self._step(instr, inputs, action, history=history, label=label)

    def _run_argv(self, instr: RunInstruction) -> tuple[str, ...]:
        state = self.state
        if not instr.prepend_shell:
            return instr.command
        command = " ".join(instr.command)
        if instr.heredocs:
            first = instr.heredocs[0]
            if (
                len(instr.heredocs) == 1
                and command.strip().startswith("<<")
                and command.strip().lstrip("<-").strip("'\"") == first.name
            ):
                script = first.data
                if script.startswith("#!"):
                    interpreter = script.splitlines()[0][2:].strip().split()
                    return (*interpreter, "-c", script) if interpreter else (*state.shell, script)
                return (*state.shell, script)
            body = command
            for doc in instr.heredocs:
                body += "\n" + doc.content + doc.name
            return (*state.shell, body)
        return (*state.shell, command)

    def _mount_identity(self, mount: Mount) -> dict[str, Any]:
        out: dict[str, Any] = {"type": mount.type, "target": mount.target}
        if mount.type == "bind":
            out["readonly"] = bool(mount.readonly)
            out["source"] = mount.source
            named = self.b.named_context(mount.from_) if mount.from_ else None
            if mount.from_ and named is None:
                out["from"] = self._source_key(mount.from_)
            else:
                out["content"] = (named or self.b.context()).select([mount.source or "."]).digest
        elif mount.type == "cache":
            out.update(id=mount.id or mount.target, sharing=mount.sharing or "shared")
        elif mount.type == "secret":
            out.update(id=mount.id or posixpath.basename(mount.target), env=mount.env or "")
        elif mount.type == "tmpfs":
            out["size"] = mount.size
        elif mount.type == "ssh":
            out["id"] = mount.id or "default"  # which agent, never what it holds
        else:
            raise NotImplementedYetError(f"RUN --mount=type={mount.type} is not supported yet")
        return out

    def _mount(
        self, stack: contextlib.ExitStack, mount: Mount, root: Path
    ) -> executor.Mount | None:
        b = self.b
        if mount.type == "bind":
            named = b.named_context(mount.from_) if mount.from_ else None
            if mount.from_ and named is None:
                source_root = stack.enter_context(self._source_view(mount.from_))
            else:
                source_root = (named or b.context()).root
            from dockyard.build._scoped import root_path

            host = root_path(source_root, mount.source or ".") if source_root is not None else None
            if host is None or not os.path.lexists(host):
                raise BuildContextError(f"RUN --mount source {mount.source!r} not found")
            if not mount.readonly and mount.readonly is not None and _rw(mount):
                scratch = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(dir=b.store.home / "tmp"))
                )
                copy = scratch / "src"
                if host.is_dir():
                    shutil.copytree(host, copy, symlinks=True)
                else:
                    shutil.copy2(host, copy)
                host = copy
            return executor.BindMount(host, mount.target, readonly=not _rw(mount))
        if mount.type == "cache":
            cache_id = (mount.id or mount.target).replace("/", "_")
            directory = b.store.home / "cache" / "mounts" / Digest.of(cache_id.encode()).hex[:32]
            if not directory.exists():
                directory.mkdir(parents=True, exist_ok=True)
                directory.chmod(mount.mode if mount.mode is not None else 0o755)
                os.chown(directory, mount.uid or 0, mount.gid or 0)
            if (mount.sharing or "shared") == "locked":
                lock = stack.enter_context(_flocked(directory.with_suffix(".lock")))
                del lock
            elif mount.sharing == "private":
                directory = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(dir=b.store.home / "tmp"))
                )
            return executor.BindMount(directory, mount.target, readonly=False)
        if mount.type == "tmpfs":
            return executor.TmpfsMount(mount.target, mount.size or None)
        if mount.type == "secret":
            secret_id = mount.id or posixpath.basename(mount.target)
            data = self._mounted_secret(mount)
            if data is None:
                return None
            target = mount.target or f"/run/secrets/{secret_id}"
            return executor.SecretMount(
                target,
                data,
                mode=mount.mode if mount.mode is not None else 0o400,
                uid=mount.uid or 0,
                gid=mount.gid or 0,
            )
        if mount.type == "ssh":
            ssh_id = mount.id or "default"
            socket = b.ssh.socket(ssh_id)
            if socket is None:
                if mount.required:
                    raise BuildError(
                        f"ssh agent {ssh_id!r} is required but was not given",
                        hint=f"pass --ssh {ssh_id} (your SSH_AUTH_SOCK) or --ssh {ssh_id}=KEYFILE",
                    )
                return None
            return executor.BindMount(socket, mount.target, readonly=False)
        del root
        raise NotImplementedYetError(f"RUN --mount=type={mount.type} is not supported yet")

    def _mounted_secret(self, mount: Mount) -> bytes | None:
        """A secret mount's value; None when it was not given (an error if it is required)."""
        secret_id = mount.id or posixpath.basename(mount.target)
        data = self._secret(secret_id)
        if data is None and mount.required:
            raise BuildError(
                f"secret {secret_id!r} is required but was not given",
                hint=f"pass --secret id={secret_id},src=FILE",
            )
        return data

    def _secret_env(self, mounts: Sequence[Mount]) -> list[str]:
        """The ``--mount=type=secret,env=VAR`` secrets, as ``VAR=value`` for this RUN only.

        Never in the config or the history, as with BuildKit's Dockerfile 1.10 syntax.
        """
        out: list[str] = []
        for mount in mounts:
            if mount.type == "secret" and mount.env:
                data = self._mounted_secret(mount)
                if data is not None:
                    out.append(f"{mount.env}={data.decode('utf-8', 'surrogateescape')}")
        return out

    def _secret(self, secret_id: str) -> bytes | None:
        for spec in self.b.options.secrets:
            if spec.id != secret_id:
                continue
            if spec.src:
                try:
                    return Path(spec.src).expanduser().read_bytes()
                except OSError as exc:
                    raise UsageError(
                        f"cannot read secret {secret_id!r} from {spec.src}: {exc.strerror}"
                    ) from exc
            value = os.environ.get(spec.env)
            return None if value is None else value.encode()
        return None

    # -- COPY / ADD ---------------------------------------------------------------------------------
    def _source_key(self, ref: str) -> str:
        index = self._stage_index(ref)
        if index is not None:
            return self.deps[index].key
        return self.b.resolve_image(ref).key

    def _stage_index(self, ref: str) -> int | None:
        if ref.isdigit():
            index = int(ref)
            return index if index in self.deps else None
        for index, result in self.deps.items():
            if result.name is not None and result.name == ref.lower():
                return index
        return None

    @contextlib.contextmanager
    def _source_view(self, ref: str) -> Iterator[Path | None]:
        """A read-only view of another stage's or image's filesystem."""
        index = self._stage_index(ref)
        if index is not None:
            layers: Sequence[Layer] = self.deps[index].layers
        else:
            layers = self.b.resolve_image(ref).layers
        dirs = self.b.cache.ensure_all_extracted(layers)
        if not dirs:
            empty = Path(tempfile.mkdtemp(dir=self.b.store.home / "tmp"))
            try:
                yield empty
            finally:
                shutil.rmtree(empty, ignore_errors=True)
            return
        with readonly_view(dirs, self.b.snapshots.root) as view:
            yield view

    def _copy(self, instr: CopyInstruction | AddInstruction, label: str | None) -> None:
        state = self.state
        keyword = type(instr).keyword
        from_ref = instr.from_ if isinstance(instr, CopyInstruction) else None
        dest, dest_is_dir = resolve_dest(instr.dest, state.workdir())
        if len(instr.sources) + len(instr.contents) > 1 and not (
            instr.dest.endswith("/") or dest_is_dir
        ):
            raise DockerfileError(
                f"when using {keyword} with more than one source file, the destination must be a directory and end with a /",
                file=instr.location.file,
                line=instr.location.start_line,
                source_line=instr.original,
            )
        downloads: list[Download] = []
        git_source: tuple[git.GitRef, str, bool] | None = None  # ref, commit, keep .git
        if isinstance(instr, AddInstruction) and any(git.is_git_ref(s) for s in instr.sources):
            if len(instr.sources) != 1 or instr.contents:
                raise DockerfileError(
                    "ADD of a git repository takes exactly one source",
                    file=instr.location.file,
                    line=instr.location.start_line,
                    source_line=instr.original,
                )
            ref = git.parse_git_ref(instr.sources[0])
            self.b.block_replay("ADD of a git repository, whose refs move")
            git_source = (ref, git.resolve(ref), instr.keep_git_dir)
            instr = dataclasses.replace(instr, sources=())
        elif isinstance(instr, AddInstruction):
            urls = [s for s in instr.sources if is_url(s)]
            if urls:
                self.b.block_replay("ADD downloads a URL, which may have changed")
            downloads = [
                download(u, self.b.store.home / "tmp", checksum=instr.checksum) for u in urls
            ]
            if urls:
                instr = dataclasses.replace(
                    instr, sources=tuple(s for s in instr.sources if not is_url(s))
                )
        elif any(is_url(s) for s in instr.sources):
            raise DockerfileError(
                "COPY does not download URLs",
                file=instr.location.file,
                line=instr.location.start_line,
                source_line=instr.original,
                hint="use ADD --checksum=sha256:... URL DEST",
            )
        chmod = _parse_chmod(instr.chmod, instr) if instr.chmod else None
        contents = [(c.path, expand_heredoc(c, state.expansion_env())) for c in instr.contents]
        selection = None
        source_identity: dict[str, Any] = {}
        context = self.b.named_context(from_ref) if from_ref else None
        if context is not None:
            from_ref = None  # a named directory context: copied like the main context
        if git_source is not None:
            source_identity = {
                "git": git_source[0].remote,
                "commit": git_source[1],
                "subdir": git_source[0].subdir,
                "keep_git_dir": git_source[2],
            }
        elif from_ref:
            source_identity = {"from": self._source_key(from_ref), "paths": list(instr.sources)}
        elif instr.sources:
            context = context or self.b.context()
            selection = context.select(
                instr.sources, excludes=instr.excludes, allow_empty_wildcard=True
            )
            source_identity = {"context": selection.digest}
        inputs = KeyInputs.of(
            keyword.lower(),
            state.key,
            [
                ("sources", source_identity),
                ("inline", [[p, Digest.of(d.encode()).hex] for p, d in contents]),
                ("urls", [[d.url, str(d.digest)] for d in downloads]),
                ("dest", instr.dest),
                ("workdir", state.workdir()),
                ("chown", instr.chown or ""),
                ("chmod", instr.chmod or ""),
                ("excludes", list(instr.excludes)),
                ("parents", bool(getattr(instr, "parents", False))),
                *self.b.layer_inputs(),
            ],
        )

        def action(root: Path) -> None:
            owner = self._chown(root, instr.chown) if instr.chown else None
            request = CopyRequest(
                sources=instr.sources,
                dest=dest,
                dest_is_dir=dest_is_dir or len(instr.sources) + len(contents) > 1,
                chown=owner,
                chmod=chmod,
                context_source=from_ref is None,
                parents=bool(getattr(instr, "parents", False)),
                exclude=_excluder(instr.excludes) if instr.excludes else None,
            )
            if contents:
                self._write_contents(root, contents, dest, request)
            for fetched in downloads:
                self._place_download(root, fetched, request)
            if git_source is not None:
                self._add_git(root, git_source, request)
                return
            if not instr.sources:
                return
            if from_ref:
                with self._source_view(from_ref) as view:
                    assert view is not None
                    copy_into(view, root, request)
            else:
                assert context is not None
                if isinstance(instr, AddInstruction):
                    self._add_local(context.root, root, request, context.is_ignored)
                else:
                    assert selection is not None
                    copy_selection(context.root, selection.matches, root, request)

        files = None
        if selection is not None:
            files = {
                e.path: f"{e.kind}:{e.mode:o}:{e.link_target}:{e.sha256}"
                for m in selection.matches
                for e in m.entries
            }
        history = created_by(instr)
        try:
            self._step(instr, inputs, action, history=history, label=label, files=files)
        finally:
            for fetched in downloads:
                fetched.path.unlink(missing_ok=True)

    def _add_git(
        self, root: Path, source: tuple[git.GitRef, str, bool], request: CopyRequest
    ) -> None:
        """Check the commit out (shallow) and copy its tree into the destination directory."""
        ref, commit, keep_git_dir = source
        with tempfile.TemporaryDirectory(dir=self.b.store.home / "tmp", prefix="git-") as tmp:
            tree = git.checkout(ref, commit, Path(tmp) / "checkout", keep_git_dir=keep_git_dir)
            copy_into(tree, root, dataclasses.replace(request, sources=(".",), dest_is_dir=True))

    def _place_download(self, root: Path, fetched: Download, request: CopyRequest) -> None:
        """An ADDed URL: 0600 (as BuildKit), owned by --chown or root, mtime from Last-Modified."""
        from dockyard.build._scoped import root_path

        if request.dest_is_dir or root_path(root, request.dest).is_dir():
            parent = root_path(root, request.dest)
            parent.mkdir(parents=True, exist_ok=True)
            host = parent / fetched.filename
        else:
            root_path(root, posixpath.dirname(request.dest)).mkdir(parents=True, exist_ok=True)
            host = root_path(root, request.dest, follow_final=False)
        shutil.copyfile(fetched.path, host)
        os.lchown(host, *(request.chown or (0, 0)))
        host.chmod(request.chmod if request.chmod is not None else 0o600)
        if fetched.mtime is not None:
            os.utime(host, (fetched.mtime, fetched.mtime))

    def _write_contents(
        self, root: Path, contents: list[tuple[str, str]], dest: str, request: CopyRequest
    ) -> None:
        from dockyard.build._scoped import root_path

        owner = request.chown or (0, 0)
        for name, data in contents:
            target = posixpath.join(dest, name) if request.dest_is_dir else dest
            parent = root_path(root, posixpath.dirname(target))
            parent.mkdir(parents=True, exist_ok=True)
            host = root_path(root, target)
            host.write_text(data)
            os.lchown(host, *owner)
            host.chmod(request.chmod if request.chmod is not None else 0o644)

    def _add_local(
        self, context_root: Path, root: Path, request: CopyRequest, ignored: Callable[[str], bool]
    ) -> None:
        """ADD: like COPY, but local tar archives are extracted into the destination."""
        from dockyard.build._scoped import root_path
        from dockyard.build.copy import expand_sources
        from dockyard.image.tarsafe import extract

        plain: list[str] = []
        for source in request.sources:
            for rel in expand_sources(context_root, source, ignored=ignored):
                host = root_path(context_root, rel)
                if host.is_file() and _is_archive(host):
                    target = root_path(root, request.dest)
                    target.mkdir(parents=True, exist_ok=True)
                    with tarfile.open(host, "r:*") as tar:
                        extract(tar, target, where=str(host))
                else:
                    plain.append(rel)
        if plain:
            copy_into(
                context_root,
                root,
                dataclasses.replace(request, sources=tuple(plain)),
                ignored=ignored,
            )


def _rw(mount: Mount) -> bool:
    return not mount.readonly


def _parse_chmod(text: str, instr: Instruction) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise DockerfileError(
            f"invalid --chmod={text}: only octal modes are supported",
            file=instr.location.file,
            line=instr.location.start_line,
            source_line=instr.original,
        ) from None
    if value > 0o7777:
        raise DockerfileError(
            f"invalid --chmod={text}: out of range",
            file=instr.location.file,
            line=instr.location.start_line,
        )
    return value


def _excluder(patterns: Sequence[str]) -> Callable[[str], bool]:
    if not patterns:
        return lambda _rel: False
    from dockyard.build.dockerignore import PatternMatcher

    matcher = PatternMatcher(list(patterns))
    return lambda rel: bool(rel) and matcher.matches(rel)


def _is_archive(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(262)
    if (
        head[:2] == b"\x1f\x8b"
        or head[:3] == b"BZh"
        or head[:6] == b"\xfd7zXZ\x00"
        or head[:4] == b"\x28\xb5\x2f\xfd"
    ):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ssh_env(mounts: Sequence[Mount], env: Sequence[str]) -> list[str]:
    """``SSH_AUTH_SOCK`` pointing at the first ssh mount, unless the RUN sets it (BuildKit)."""
    if any(item.startswith("SSH_AUTH_SOCK=") for item in env):
        return []
    for mount in mounts:
        if mount.type == "ssh":
            return [f"SSH_AUTH_SOCK={mount.target}"]
    return []


def _sources_change(before: str | None, after: str | None) -> str | None:
    """A COPY --from or git source that changed, said in words (None: say it generically)."""
    try:
        old, new = json.loads(before or ""), json.loads(after or "")
    except ValueError:
        return None
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return None
    if "from" in old and "from" in new and old.get("paths") == new.get("paths"):
        paths = ", ".join(str(p) for p in new.get("paths", [])) or "its files"
        return (
            f"{paths} from a stage or image that changed "
            f"({str(old['from'])[:19]} -> {str(new['from'])[:19]})"
        )
    if "commit" in old and "commit" in new and old.get("git") == new.get("git"):
        return f"git {new['git']} moved: {str(old['commit'])[:12]} -> {str(new['commit'])[:12]}"
    return None
