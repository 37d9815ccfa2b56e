"""Typed instructions (one frozen dataclass each) built from parse-tree nodes, like BuildKit's."""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, field
from typing import ClassVar

from dockyard.dockerfile.goquote import go_quote
from dockyard.dockerfile.parser import INSTRUCTIONS, Dockerfile, Heredoc, Node, parse_heredoc
from dockyard.errors import DockerfileError

__all__ = [
    "AddInstruction",
    "ArgInstruction",
    "ArgPair",
    "CmdInstruction",
    "CopyInstruction",
    "EntrypointInstruction",
    "EnvInstruction",
    "ExposeInstruction",
    "FromInstruction",
    "HealthcheckInstruction",
    "Instruction",
    "KeyValue",
    "LabelInstruction",
    "Location",
    "MaintainerInstruction",
    "Mount",
    "OnbuildInstruction",
    "RunInstruction",
    "ShellInstruction",
    "SourceContent",
    "StageDef",
    "StopsignalInstruction",
    "UserInstruction",
    "VolumeInstruction",
    "WorkdirInstruction",
    "from_ast",
    "parse_duration",
    "parse_instruction",
    "parse_mount",
    "suggest",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where an instruction is: file and 1-based first/last line."""

    file: str
    start_line: int
    end_line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.start_line}"


@dataclass(frozen=True, slots=True)
class Instruction:
    """Base of every typed instruction: its location and original text."""

    keyword: ClassVar[str] = ""
    location: Location
    original: str


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class ArgPair:
    """``ARG key[=value]``: ``value`` is None when no default is given."""

    key: str
    value: str | None


@dataclass(frozen=True, slots=True)
class SourceContent:
    """An inline source from a heredoc (``COPY <<EOF /dest``)."""

    path: str
    data: str
    expand: bool


@dataclass(frozen=True, slots=True)
class Mount:
    """One ``RUN --mount=...`` value, typed."""

    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    readonly: bool = False
    id: str = ""
    sharing: str = ""
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int = 0
    env: str | None = None


@dataclass(frozen=True, slots=True)
class FromInstruction(Instruction):
    keyword: ClassVar[str] = "FROM"
    base_name: str
    stage_name: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class RunInstruction(Instruction):
    """RUN: ``command`` is one string (shell form, ``prepend_shell``) or the exec array."""

    keyword: ClassVar[str] = "RUN"
    command: tuple[str, ...]
    prepend_shell: bool
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    security: str | None = None


@dataclass(frozen=True, slots=True)
class CmdInstruction(Instruction):
    keyword: ClassVar[str] = "CMD"
    command: tuple[str, ...]
    prepend_shell: bool
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True)
class EntrypointInstruction(Instruction):
    keyword: ClassVar[str] = "ENTRYPOINT"
    command: tuple[str, ...] | None
    prepend_shell: bool
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True)
class ShellInstruction(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EnvInstruction(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, slots=True)
class LabelInstruction(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, slots=True)
class ArgInstruction(Instruction):
    keyword: ClassVar[str] = "ARG"
    pairs: tuple[ArgPair, ...]


@dataclass(frozen=True, slots=True)
class MaintainerInstruction(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    maintainer: str


@dataclass(frozen=True, slots=True)
class ExposeInstruction(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CopyInstruction(Instruction):
    keyword: ClassVar[str] = "COPY"
    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddInstruction(Instruction):
    keyword: ClassVar[str] = "ADD"
    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    keep_git_dir: bool = False
    checksum: str | None = None
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VolumeInstruction(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    volumes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserInstruction(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str


@dataclass(frozen=True, slots=True)
class WorkdirInstruction(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str


@dataclass(frozen=True, slots=True)
class OnbuildInstruction(Instruction):
    """ONBUILD: the trigger is kept as text and never evaluated in this image."""

    keyword: ClassVar[str] = "ONBUILD"
    expression: str


@dataclass(frozen=True, slots=True)
class StopsignalInstruction(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str


@dataclass(frozen=True, slots=True)
class HealthcheckInstruction(Instruction):
    """HEALTHCHECK: ``test`` is the image-config form (``["NONE"]``, ``["CMD-SHELL", s]``...).

    Durations are in nanoseconds (0 when not given), like the image config.
    """

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class StageDef:
    """A stage as written: its FROM, its index and its instructions (nothing resolved)."""

    index: int
    from_: FromInstruction
    instructions: tuple[Instruction, ...] = field(default=())

    @property
    def name(self) -> str | None:
        return self.from_.stage_name


class _InvalidError(Exception):
    """Internal: a message (and optional hint/token) that from_ast locates."""

    def __init__(self, message: str, *, hint: str | None = None, token: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.token = token


def suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """The closest candidate to ``word`` (case-insensitive), for "did you mean" hints."""
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


# ---------------------------------------------------------------------------- flags

_BOOL, _STRING, _STRINGS = 0, 1, 2


class _Flags:
    """BuildKit's BFlags: ``--name=value`` words checked against the flags a command knows."""

    def __init__(self, words: tuple[str, ...], known: dict[str, int], command: str) -> None:
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {}
        used: set[str] = set()
        for word in words:
            if not word.startswith("--"):
                raise _InvalidError(f"arg should start with -- : {word}", token=word)
            if word == "--":
                return
            body = word[2:]
            value = ""
            index = body.find("=")
            if index >= 0:
                value = body[index + 1 :]
                body = body[:index]
            kind = known.get(body)
            if kind is None:
                guess = suggest(body, list(known))
                hint = f"did you mean --{guess}?" if guess else None
                if not known:
                    hint = f"{command} takes no flags"
                raise _InvalidError(f"unknown flag: {body}", hint=hint, token=word)
            if body in used and kind != _STRINGS:
                raise _InvalidError(f"duplicate flag specified: {body}", token=word)
            used.add(body)
            if kind == _BOOL:
                if index >= 0 and value == "":
                    raise _InvalidError(f"missing a value on flag: {body}", token=word)
                low = value.lower()
                if low in ("true", ""):
                    self.values[body] = "true"
                elif low == "false":
                    self.values[body] = "false"
                else:
                    raise _InvalidError(
                        f"expecting boolean value for flag {body}, not: {value}", token=word
                    )
            else:
                if index < 0:
                    raise _InvalidError(f"missing a value on flag: {body}", token=word)
                if kind == _STRING:
                    self.values[body] = value
                else:
                    self.lists.setdefault(body, []).append(value)

    def string(self, name: str) -> str | None:
        return self.values.get(name)

    def boolean(self, name: str) -> bool:
        return self.values.get(name) == "true"

    def strings(self, name: str) -> tuple[str, ...]:
        return tuple(self.lists.get(name, ()))


# ---------------------------------------------------------------------------- helpers


def _at_least_one(cmd: str) -> _InvalidError:
    return _InvalidError(f"{cmd} requires at least one argument")


def _exactly_one(cmd: str) -> _InvalidError:
    return _InvalidError(f"{cmd} requires exactly one argument")


def _json_args(args: tuple[str, ...], is_json: bool) -> tuple[str, ...]:
    if not args:
        return ()
    if is_json:
        return args
    return (" ".join(args),)


_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]+)")


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds (``1m30s``, ``1.5h``, ``0``)."""
    original = text
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f"time: invalid duration {go_quote(original)}")
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None or match.group(1) in ("", "."):
            raise ValueError(f"time: invalid duration {go_quote(original)}")
        unit = _DURATION_UNITS.get(match.group(2))
        if unit is None:
            raise ValueError(
                f"time: unknown unit {go_quote(match.group(2))} in duration {go_quote(original)}"
            )
        total += float(match.group(1)) * unit
        pos = match.end()
    return sign * int(total)


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SHARING = ("shared", "private", "locked")


def _parse_bool(key: str, value: str) -> bool:
    low = value.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise _InvalidError(f"invalid value for {key}: {value}")


def parse_mount(value: str) -> Mount:
    """One ``--mount`` value (CSV of ``key=value``), with BuildKit's defaults per type."""
    try:
        return _parse_mount(value)
    except _InvalidError as exc:
        raise DockerfileError(f"--mount={value}: {exc.message}", hint=exc.hint) from None


def _parse_mount(value: str) -> Mount:
    try:
        fields = next(csv.reader([value]), [])
    except csv.Error as exc:
        raise _InvalidError(f"failed to parse csv mounts: {exc}") from exc
    kind = "bind"
    for item in fields:
        key, _, val = item.partition("=")
        if key.strip().lower() == "type":
            kind = val.strip().lower()
            if kind not in _MOUNT_TYPES:
                raise _InvalidError(
                    f"unsupported mount type {go_quote(kind)}",
                    hint="use one of " + ", ".join(_MOUNT_TYPES),
                )
    opts: dict[str, object] = {"type": kind}
    readonly: bool | None = None
    for item in fields:
        item = item.strip()
        if not item:
            continue
        key, has_value, val = item.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro"):
                readonly = True
                continue
            if key in ("readwrite", "rw"):
                readonly = False
                continue
            if key == "required" and kind in ("secret", "ssh"):
                opts["required"] = True
                continue
            raise _InvalidError(f"unexpected key '{key}' in '{item}'")
        if key == "type":
            continue
        if key in ("target", "dst", "destination"):
            opts["target"] = val
        elif key in ("source", "src"):
            opts["source"] = val
        elif key == "from":
            opts["from_"] = val
        elif key in ("readonly", "ro"):
            readonly = _parse_bool(key, val)
        elif key in ("readwrite", "rw"):
            readonly = not _parse_bool(key, val)
        elif key == "required" and kind in ("secret", "ssh"):
            opts["required"] = _parse_bool(key, val)
        elif key == "id":
            opts["id"] = val
        elif key == "sharing" and kind == "cache":
            if val.lower() not in _SHARING:
                raise _InvalidError(f"unsupported sharing value {go_quote(val)}")
            opts["sharing"] = val.lower()
        elif key == "mode" and kind in ("cache", "secret", "ssh"):
            try:
                opts["mode"] = int(val, 8)
            except ValueError as exc:
                raise _InvalidError(f"invalid value {val} for mode") from exc
        elif key in ("uid", "gid") and kind in ("cache", "secret", "ssh"):
            try:
                opts[key] = int(val, 10)
            except ValueError as exc:
                raise _InvalidError(f"invalid value {val} for {key}") from exc
        elif key == "size" and kind == "tmpfs":
            try:
                opts["size"] = int(val)
            except ValueError as exc:
                raise _InvalidError(f"invalid value {val} for size") from exc
        elif key == "env" and kind == "secret":
            opts["env"] = val
        else:
            raise _InvalidError(f"unexpected key '{key}' for mount type '{kind}'")
    target = str(opts.get("target", ""))
    if kind == "secret" and not target and "env" not in opts:
        ident = str(opts.get("id", "")) or str(opts.get("source", "")).rsplit("/", 1)[-1]
        opts["target"] = f"/run/secrets/{ident}" if ident else ""
        if not ident:
            raise _InvalidError("secret mount needs an id, a source or a target")
    if kind == "ssh" and not target:
        opts["target"] = "/run/buildkit/ssh_agent.0"
    if kind in ("bind", "cache", "tmpfs") and not target:
        raise _InvalidError("mount destination (target) is required")
    if kind == "bind":
        opts["readonly"] = True if readonly is None else readonly
    else:
        opts["readonly"] = bool(readonly)
    if kind == "cache" and "sharing" not in opts:
        opts["sharing"] = "shared"
    if kind == "cache" and not opts.get("id"):
        opts["id"] = str(opts["target"])
    return Mount(**opts)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- per instruction


def _sources_and_dest(
    args: tuple[str, ...], heredocs: tuple[Heredoc, ...], cmd: str
) -> tuple[tuple[str, ...], str, tuple[SourceContent, ...]]:
    srcs, dest = args[:-1], args[-1]
    if _heredoc(dest) is not None:
        raise _InvalidError(f"{cmd} cannot accept a heredoc as a destination", token=dest)
    lookup = {doc.name: doc for doc in heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for src in srcs:
        doc = _heredoc(src)
        if doc is None:
            paths.append(src)
            continue
        found = lookup.get(doc.name)
        data = found.content if found is not None else ""
        if doc.chomp:
            data = re.sub(r"(?m)^\t+", "", data)
        contents.append(SourceContent(path=doc.name, data=data, expand=doc.expand))
    return tuple(paths), dest, tuple(contents)


def _heredoc(word: str) -> Heredoc | None:
    try:
        return parse_heredoc(word)
    except ValueError:
        return None


_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_\.]*\Z")
_ONBUILD_PREFIX = re.compile(r"(?i)^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*")


def parse_instruction(node: Node, filename: str = "Dockerfile") -> Instruction:
    """Turn one top-level node into its typed instruction; raise DockerfileError if invalid."""
    try:
        return _parse(node, filename)
    except _InvalidError as exc:
        raise DockerfileError(
            exc.message, file=filename, line=node.start_line, hint=exc.hint
        ) from None


def _parse(node: Node, filename: str) -> Instruction:
    name = node.name
    loc = Location(filename, node.start_line, node.end_line)
    original = node.original
    args = node.args

    def flags(known: dict[str, int] | None = None) -> _Flags:
        return _Flags(node.flags, known or {}, name.upper())

    if name == "from":
        fl = flags({"platform": _STRING})
        stage: str | None = None
        if len(args) == 3 and args[1].lower() == "as":
            stage = args[2].lower()
            if not _STAGE_NAME.match(stage):
                raise _InvalidError(
                    f"invalid name for build stage: {go_quote(args[2])}, name can't start with a number or contain symbols",
                    token=args[2],
                )
        elif len(args) != 1:
            raise _InvalidError(
                "FROM requires either one or three arguments", hint="FROM image [AS name]"
            )
        return FromInstruction(loc, original, args[0], stage, fl.string("platform"))
    if name == "run":
        fl = flags({"mount": _STRINGS, "network": _STRING, "security": _STRING})
        mounts = tuple(_parse_mount(m) for m in fl.strings("mount"))
        network = fl.string("network")
        if network is not None and network not in ("default", "none", "host"):
            raise _InvalidError(
                f"unsupported network mode {go_quote(network)}", hint="use default, none or host"
            )
        security = fl.string("security")
        if security is not None and security not in ("sandbox", "insecure"):
            raise _InvalidError(
                f"unsupported security mode {go_quote(security)}", hint="use sandbox or insecure"
            )
        return RunInstruction(
            loc,
            original,
            _json_args(args, node.json),
            not node.json,
            node.heredocs,
            mounts,
            network,
            security,
        )
    if name == "cmd":
        flags()
        return CmdInstruction(
            loc, original, _json_args(args, node.json), not node.json, node.heredocs
        )
    if name == "entrypoint":
        flags()
        cmd = _json_args(args, node.json)
        return EntrypointInstruction(loc, original, cmd or None, not node.json, node.heredocs)
    if name == "shell":
        flags()
        if not args:
            raise _at_least_one("SHELL")
        if not node.json:
            raise _InvalidError(
                "SHELL requires the arguments to be in JSON form", hint='SHELL ["/bin/sh", "-c"]'
            )
        return ShellInstruction(loc, original, args)
    if name in ("env", "label"):
        flags()
        if not args:
            raise _at_least_one(name.upper())
        if len(args) % 3 != 0:
            raise _InvalidError(f"Bad input to {name.upper()}, too many arguments")
        pairs = []
        for i in range(0, len(args), 3):
            if not args[i]:
                raise _InvalidError(f"{name.upper()} names can not be blank")
            pairs.append(KeyValue(args[i], args[i + 1]))
        cls = EnvInstruction if name == "env" else LabelInstruction
        return cls(loc, original, tuple(pairs))
    if name == "arg":
        if not args:
            raise _at_least_one("ARG")
        arg_pairs = []
        for arg in args:
            if "=" in arg:
                key, value = arg.split("=", 1)
                if not key:
                    raise _InvalidError("ARG names can not be blank")
                arg_pairs.append(ArgPair(key, value))
            else:
                arg_pairs.append(ArgPair(arg, None))
        flags()
        return ArgInstruction(loc, original, tuple(arg_pairs))
    if name == "maintainer":
        if len(args) != 1:
            raise _exactly_one("MAINTAINER")
        flags()
        return MaintainerInstruction(loc, original, args[0])
    if name == "expose":
        if not args:
            raise _at_least_one("EXPOSE")
        flags()
        return ExposeInstruction(loc, original, tuple(sorted(args)))
    if name == "copy":
        if len(args) < 2:
            raise _InvalidError(
                "COPY requires at least two arguments, but only one was provided. Destination could not be determined."
            )
        fl = flags(
            {
                "chown": _STRING,
                "from": _STRING,
                "chmod": _STRING,
                "link": _BOOL,
                "parents": _BOOL,
                "exclude": _STRINGS,
            }
        )
        srcs, dest, contents = _sources_and_dest(args, node.heredocs, "COPY")
        return CopyInstruction(
            loc,
            original,
            srcs,
            dest,
            contents,
            fl.string("from") or None,
            fl.string("chown") or None,
            fl.string("chmod") or None,
            fl.boolean("link"),
            fl.boolean("parents"),
            fl.strings("exclude"),
        )
    if name == "add":
        if len(args) < 2:
            raise _InvalidError(
                "ADD requires at least two arguments, but only one was provided. Destination could not be determined."
            )
        fl = flags(
            {
                "chown": _STRING,
                "chmod": _STRING,
                "link": _BOOL,
                "keep-git-dir": _BOOL,
                "checksum": _STRING,
                "exclude": _STRINGS,
            }
        )
        srcs, dest, contents = _sources_and_dest(args, node.heredocs, "ADD")
        return AddInstruction(
            loc,
            original,
            srcs,
            dest,
            contents,
            fl.string("chown") or None,
            fl.string("chmod") or None,
            fl.boolean("link"),
            fl.boolean("keep-git-dir"),
            fl.string("checksum") or None,
            fl.strings("exclude"),
        )
    if name == "volume":
        if not args:
            raise _at_least_one("VOLUME")
        flags()
        volumes = []
        for vol in args:
            vol = vol.strip()
            if not vol:
                raise _InvalidError("VOLUME specified can not be an empty string")
            volumes.append(vol)
        return VolumeInstruction(loc, original, tuple(volumes))
    if name == "user":
        if len(args) != 1:
            raise _exactly_one("USER")
        flags()
        return UserInstruction(loc, original, args[0])
    if name == "workdir":
        if len(args) != 1:
            raise _exactly_one("WORKDIR")
        flags()
        return WorkdirInstruction(loc, original, args[0])
    if name == "stopsignal":
        if len(args) != 1:
            raise _exactly_one("STOPSIGNAL")
        flags()
        return StopsignalInstruction(loc, original, args[0])
    if name == "onbuild":
        if not args:
            raise _at_least_one("ONBUILD")
        flags()
        trigger = args[0].strip().upper()
        if trigger == "ONBUILD":
            raise _InvalidError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise _InvalidError(f"{trigger} isn't allowed as an ONBUILD trigger")
        if trigger.lower() not in INSTRUCTIONS:
            raise _unknown(trigger if args[0] == trigger else args[0])
        expression = _ONBUILD_PREFIX.sub("", original, count=1)
        for doc in node.heredocs:
            expression += "\n" + doc.content + doc.name
        return OnbuildInstruction(loc, original, expression)
    if name == "healthcheck":
        return _parse_healthcheck(node, loc, args, flags)
    raise _unknown(node.value)


def _unknown(value: str) -> _InvalidError:
    guess = suggest(value, [i.upper() for i in INSTRUCTIONS])
    return _InvalidError(
        f"unknown instruction: {value}",
        hint=f"did you mean {guess}?" if guess else None,
        token=value,
    )


def _parse_healthcheck(
    node: Node, loc: Location, args: tuple[str, ...], flags: object
) -> HealthcheckInstruction:
    if not args:
        raise _at_least_one("HEALTHCHECK")
    typ = args[0].upper()
    rest = args[1:]
    if typ == "NONE":
        if rest:
            raise _InvalidError("HEALTHCHECK NONE takes no arguments")
        return HealthcheckInstruction(loc, node.original, ("NONE",))
    fl = _Flags(
        node.flags,
        {
            "interval": _STRING,
            "timeout": _STRING,
            "start-period": _STRING,
            "start-interval": _STRING,
            "retries": _STRING,
        },
        "HEALTHCHECK",
    )
    if typ != "CMD":
        raise _InvalidError(
            f'Unknown type "{typ}" in HEALTHCHECK (try CMD)',
            hint="HEALTHCHECK [OPTIONS] CMD command",
        )
    cmd = _json_args(rest, node.json)
    if not cmd:
        raise _InvalidError("Missing command after HEALTHCHECK CMD")
    test = ("CMD" if node.json else "CMD-SHELL", *cmd)

    def interval(flag: str) -> int:
        text = fl.string(flag) or ""
        if not text:
            return 0
        try:
            value = parse_duration(text)
        except ValueError as exc:
            raise _InvalidError(str(exc), token=text) from None
        if value == 0:
            return 0
        if value < 1_000_000:
            raise _InvalidError(f'Interval "{flag}" cannot be less than 1ms', token=text)
        return value

    retries = 0
    text = fl.string("retries") or ""
    if text:
        try:
            retries = int(text, 10)
        except ValueError:
            raise _InvalidError(
                f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax"
            ) from None
        if retries < 0:
            raise _InvalidError(f"--retries cannot be negative ({retries})")
    return HealthcheckInstruction(
        loc,
        node.original,
        test,
        interval("interval"),
        interval("timeout"),
        interval("start-period"),
        interval("start-interval"),
        retries,
    )


def from_ast(dockerfile: Dockerfile) -> tuple[tuple[ArgInstruction, ...], tuple[StageDef, ...]]:
    """Typed instructions grouped by stage: the global ARGs before the first FROM, and the stages.

    Raises DockerfileError (with the line and a caret) for the first invalid instruction.
    """
    meta: list[ArgInstruction] = []
    stages: list[tuple[FromInstruction, list[Instruction]]] = []
    for node in dockerfile.nodes:
        try:
            instr = _parse(node, dockerfile.filename)
        except _InvalidError as exc:
            raise dockerfile.error(exc.message, node, token=exc.token, hint=exc.hint) from None
        if isinstance(instr, FromInstruction):
            stages.append((instr, []))
        elif not stages:
            if isinstance(instr, ArgInstruction):
                meta.append(instr)
            else:
                raise dockerfile.error(
                    "no build stage in current context",
                    node,
                    hint=f"only ARG may come before the first FROM, not {node.value.upper()}",
                )
        else:
            stages[-1][1].append(instr)
    return tuple(meta), tuple(
        StageDef(index, frm, tuple(body)) for index, (frm, body) in enumerate(stages)
    )
