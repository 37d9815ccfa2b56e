"""Stages, ARG scoping, build args and dependencies: the plan the builder starts from; no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dockyard.dockerfile.instructions import (
    AddInstruction,
    ArgInstruction,
    ArgPair,
    CopyInstruction,
    EnvInstruction,
    ExposeInstruction,
    FromInstruction,
    Instruction,
    KeyValue,
    LabelInstruction,
    Mount,
    RunInstruction,
    SourceContent,
    StageDef,
    StopsignalInstruction,
    UserInstruction,
    VolumeInstruction,
    WorkdirInstruction,
    from_ast,
    suggest,
)
from dockyard.dockerfile.parser import Dockerfile, parse
from dockyard.dockerfile.shell import ShellLex, ShellSyntaxError
from dockyard.errors import DockerfileError, NotFoundError
from dockyard.oci import Platform

__all__ = [
    "BuildPlan",
    "Platform",
    "Stage",
    "arg_value",
    "expand_heredoc",
    "expand_instruction",
    "expand_mount",
    "load",
    "platform_args",
]


def platform_args(build: Platform, target: Platform | None = None) -> dict[str, str]:
    """The automatic ARGs: BUILDPLATFORM/OS/ARCH/VARIANT and TARGETPLATFORM/OS/ARCH/VARIANT."""
    target = target or build
    return {
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant,
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant,
    }


@dataclass(frozen=True, slots=True)
class Stage:
    """A stage with its base resolved against the global ARGs and its dependencies known.

    ``base_stage`` is the index of the stage named in FROM, else None (``base_image`` then
    holds the image reference, or ``scratch``). ``deps`` are the stage indexes this stage
    needs (FROM, ``COPY --from``, ``RUN --mount=from=``); ``images`` the external images
    it copies or mounts from.
    """

    index: int
    name: str | None
    base_name: str
    base_image: str | None
    base_stage: int | None
    platform: str | None
    from_: FromInstruction
    instructions: tuple[Instruction, ...]
    deps: frozenset[int]
    images: tuple[str, ...]

    @property
    def display_name(self) -> str:
        return self.name if self.name is not None else str(self.index)


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """What to build: every stage, the target, and the stages reachable from it (in order)."""

    dockerfile: Dockerfile
    stages: tuple[Stage, ...]
    target: int
    reachable: tuple[int, ...]
    global_args: Mapping[str, str]
    meta_args: tuple[ArgInstruction, ...]
    build_args: Mapping[str, str]
    unused_build_args: tuple[str, ...]
    build_platform: Platform
    target_platform: Platform

    def stage(self, ref: str | int) -> Stage:
        """A stage by index or (case-insensitive) name."""
        if isinstance(ref, int) or ref.isdigit():
            index = int(ref)
            if 0 <= index < len(self.stages):
                return self.stages[index]
        else:
            for stage in self.stages:
                if stage.name == ref.lower():
                    return stage
        raise NotFoundError(f"stage {ref!r} not found")


def _lex(escape: str) -> ShellLex:
    return ShellLex(escape)


def _expand(lex: ShellLex, word: str, env: Mapping[str, str], instr: Instruction) -> str:
    try:
        return lex.process_word(word, env)
    except ShellSyntaxError as exc:
        raise DockerfileError(
            str(exc),
            file=instr.location.file,
            line=instr.location.start_line,
            source_line=instr.original,
        ) from None


def expand_instruction(
    instr: Instruction,
    env: Mapping[str, str],
    *,
    escape_token: str = "\\",  # noqa: S107
) -> Instruction:
    """The instruction with its words expanded against ``env``, where BuildKit expands them.

    Expanded: ENV and LABEL keys and values, ARG names and defaults, EXPOSE ports (split
    on spaces), WORKDIR, USER, STOPSIGNAL, VOLUME, COPY/ADD sources, destination,
    ``--chown``, ``--chmod`` and ADD ``--checksum``. Not expanded: RUN, CMD, ENTRYPOINT,
    SHELL, HEALTHCHECK, MAINTAINER, ONBUILD, COPY ``--from`` (see :func:`load`), heredoc
    bodies (see :func:`expand_heredoc`) and RUN mounts (see :func:`expand_mount`).
    Raises DockerfileError for a malformed word.
    """
    lex = _lex(escape_token)

    def ex(word: str) -> str:
        return _expand(lex, word, env, instr)

    def opt(word: str | None) -> str | None:
        return None if word is None else ex(word)

    if isinstance(instr, EnvInstruction | LabelInstruction):
        pairs = tuple(KeyValue(ex(p.key), ex(p.value)) for p in instr.pairs)
        return dataclasses.replace(instr, pairs=pairs)
    if isinstance(instr, ArgInstruction):
        args = tuple(ArgPair(ex(p.key), opt(p.value)) for p in instr.pairs)
        return dataclasses.replace(instr, pairs=args)
    if isinstance(instr, ExposeInstruction):
        ports = tuple(part for port in instr.ports for part in ex(port).split(" ") if part)
        return dataclasses.replace(instr, ports=ports)
    if isinstance(instr, WorkdirInstruction):
        return dataclasses.replace(instr, path=ex(instr.path))
    if isinstance(instr, UserInstruction):
        return dataclasses.replace(instr, user=ex(instr.user))
    if isinstance(instr, StopsignalInstruction):
        return dataclasses.replace(instr, signal=ex(instr.signal))
    if isinstance(instr, VolumeInstruction):
        return dataclasses.replace(instr, volumes=tuple(ex(v) for v in instr.volumes))
    if isinstance(instr, CopyInstruction):
        return dataclasses.replace(
            instr,
            sources=tuple(ex(s) for s in instr.sources),
            dest=ex(instr.dest),
            chown=opt(instr.chown),
            chmod=opt(instr.chmod),
            contents=tuple(dataclasses.replace(c, path=ex(c.path)) for c in instr.contents),
        )
    if isinstance(instr, AddInstruction):
        return dataclasses.replace(
            instr,
            sources=tuple(ex(s) for s in instr.sources),
            dest=ex(instr.dest),
            chown=opt(instr.chown),
            chmod=opt(instr.chmod),
            checksum=opt(instr.checksum),
            contents=tuple(dataclasses.replace(c, path=ex(c.path)) for c in instr.contents),
        )
    return instr


_HEREDOC_LEX = ShellLex("\\", skip_process_quotes=True)


def expand_heredoc(content: SourceContent, env: Mapping[str, str]) -> str:
    """The data of a COPY/ADD heredoc: ``$VAR`` expanded unless the delimiter was quoted.

    Quotes in the body are kept (they are file content); escapes are processed.
    """
    if not content.expand:
        return content.data
    try:
        return _HEREDOC_LEX.process_word(content.data, env)
    except ShellSyntaxError as exc:
        raise DockerfileError(f"heredoc {content.path}: {exc}") from None


def expand_mount(
    mount: Mount,
    env: Mapping[str, str],
    *,
    escape_token: str = "\\",  # noqa: S107
) -> Mount:
    """A RUN mount with its string fields expanded (``from`` is never expanded)."""
    lex = _lex(escape_token)

    def ex(word: str) -> str:
        try:
            return lex.process_word(word, env)
        except ShellSyntaxError as exc:
            raise DockerfileError(f"--mount: {exc}") from None

    return dataclasses.replace(
        mount,
        target=ex(mount.target),
        source=ex(mount.source),
        id=ex(mount.id),
        env=None if mount.env is None else ex(mount.env),
    )


def arg_value(
    pair: ArgPair,
    *,
    build_args: Mapping[str, str],
    global_args: Mapping[str, str],
) -> str | None:
    """The value an (already expanded) ``ARG`` declaration inside a stage takes.

    A ``--build-arg`` wins; else the declared default; else the value of the global ARG
    (or automatic platform ARG) of that name; else the ARG stays unset (None).
    """
    if pair.key in build_args:
        return build_args[pair.key]
    if pair.value is not None:
        return pair.value
    return global_args.get(pair.key)


def _resolve_global_args(
    dockerfile: Dockerfile,
    meta: tuple[ArgInstruction, ...],
    build_args: Mapping[str, str],
    automatic: Mapping[str, str],
) -> tuple[dict[str, str], set[str]]:
    lex = _lex(dockerfile.escape_token)
    scope = dict(automatic)
    used: set[str] = set()
    for instr in meta:
        for pair in instr.pairs:
            key = _expand(lex, pair.key, scope, instr)
            if key in build_args:
                scope[key] = build_args[key]
                used.add(key)
            elif pair.value is not None:
                scope[key] = _expand(lex, pair.value, scope, instr)
            elif key not in automatic:
                scope.pop(key, None)
    return scope, used


def _used_stage_args(stages: tuple[StageDef, ...], build_args: Mapping[str, str]) -> set[str]:
    used: set[str] = set()
    for stage in stages:
        for instr in stage.instructions:
            if isinstance(instr, ArgInstruction):
                used.update(p.key for p in instr.pairs if p.key in build_args)
    return used


def _stage_ref(
    ref: str, names: dict[str, int], count: int, instr: Instruction, dockerfile: Dockerfile
) -> int | None:
    if "$" in ref:
        raise dockerfile.error(
            "variable expansion is not supported for --from",
            line=instr.location.start_line,
            token=ref,
            hint="define a stage with FROM using a global ARG, and copy from that stage",
        )
    if ref.isdigit():
        index = int(ref)
        if index >= count:
            raise dockerfile.error(
                f"invalid stage index {index}: the Dockerfile has {count} stage(s)",
                line=instr.location.start_line,
                token=ref,
            )
        return index
    return names.get(ref.lower())


def load(
    text: str | Dockerfile,
    *,
    filename: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: Platform | None = None,
    target_platform: Platform | None = None,
) -> BuildPlan:
    """Parse (if needed) and plan: stages with bases resolved, dependencies and reachability.

    ``platform`` is the build host's platform (the caller detects it); ``target_platform``
    defaults to it. Global ARGs (before the first FROM) are evaluated in order with the
    automatic platform ARGs and ``build_args``; each FROM image and ``--platform`` is
    expanded with them. Raises DockerfileError for an invalid Dockerfile and
    NotFoundError for an unknown ``target``.
    """
    dockerfile = text if isinstance(text, Dockerfile) else parse(text, filename=filename)
    args = dict(build_args or {})
    build_platform = platform or Platform("linux", "amd64")
    tplatform = target_platform or build_platform
    automatic = platform_args(build_platform, tplatform)
    meta, defs = from_ast(dockerfile)
    global_args, used = _resolve_global_args(dockerfile, meta, args, automatic)
    lex = _lex(dockerfile.escape_token)

    names: dict[str, int] = {}
    for stage_def in defs:
        if stage_def.name is not None:
            if stage_def.name in names:
                raise dockerfile.error(
                    f"duplicate stage name {stage_def.name!r}",
                    line=stage_def.from_.location.start_line,
                    token=stage_def.name,
                    hint=f"first defined on line {defs[names[stage_def.name]].from_.location.start_line}",
                )
            names[stage_def.name] = stage_def.index

    stages: list[Stage] = []
    for stage_def in defs:
        frm = stage_def.from_
        base = _expand(lex, frm.base_name, global_args, frm)
        if not base:
            raise dockerfile.error(
                f"base name ({frm.base_name}) should not be blank",
                line=frm.location.start_line,
                hint="set the ARG it uses with --build-arg or give it a default",
            )
        plat = None if frm.platform is None else _expand(lex, frm.platform, global_args, frm)
        base_stage = names.get(base.lower())
        if base_stage is not None and base_stage >= stage_def.index:
            base_stage = None  # FROM sees only earlier stages; a later name is an image
        deps: set[int] = set() if base_stage is None else {base_stage}
        images: list[str] = []
        for instr in stage_def.instructions:
            refs: list[str] = []
            if isinstance(instr, CopyInstruction) and instr.from_:
                refs.append(instr.from_)
            elif isinstance(instr, RunInstruction):
                refs.extend(m.from_ for m in instr.mounts if m.from_)
            for ref in refs:
                index = _stage_ref(ref, names, len(defs), instr, dockerfile)
                if index is None:
                    images.append(ref)
                elif index == stage_def.index:
                    raise dockerfile.error(
                        f"stage {stage_def.name or stage_def.index} cannot copy from itself",
                        line=instr.location.start_line,
                        token=ref,
                    )
                else:
                    deps.add(index)
        stages.append(
            Stage(
                index=stage_def.index,
                name=stage_def.name,
                base_name=frm.base_name,
                base_image=None if base_stage is not None else base,
                base_stage=base_stage,
                platform=plat,
                from_=frm,
                instructions=stage_def.instructions,
                deps=frozenset(deps),
                images=tuple(dict.fromkeys(images)),
            )
        )

    if target is None:
        target_index = len(stages) - 1
    else:
        found = names.get(target.lower())
        if found is None:
            guess = suggest(target, list(names))
            raise NotFoundError(
                f"target stage {target!r} could not be found",
                location=filename,
                hint=f"did you mean {guess!r}?" if guess else "stages: " + ", ".join(names),
            )
        target_index = found

    reachable = _reachable(stages, target_index, dockerfile)
    used |= _used_stage_args(tuple(defs[i] for i in reachable), args)
    unused = tuple(sorted(k for k in args if k not in used and k not in automatic))
    return BuildPlan(
        dockerfile=dockerfile,
        stages=tuple(stages),
        target=target_index,
        reachable=reachable,
        global_args=MappingProxyType(global_args),
        meta_args=meta,
        build_args=MappingProxyType(args),
        unused_build_args=unused,
        build_platform=build_platform,
        target_platform=tplatform,
    )


def _reachable(stages: list[Stage], target: int, dockerfile: Dockerfile) -> tuple[int, ...]:
    """Stages the target needs, dependencies first; a cycle is an error."""
    order: list[int] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(index: int, path: list[int]) -> None:
        mark = state.get(index)
        if mark == 2:
            return
        stage = stages[index]
        if mark == 1:
            raise dockerfile.error(
                f"circular dependency detected on stage: {stage.display_name}",
                line=stage.from_.location.start_line,
            )
        state[index] = 1
        for dep in sorted(stage.deps):
            visit(dep, [*path, index])
        state[index] = 2
        order.append(index)

    visit(target, [])
    return tuple(order)
