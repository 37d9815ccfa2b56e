"""Lint values: severities, findings, text edits, and the instruction/stage view rules read."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from dockyard.dockerfile import Dockerfile, Heredoc, Node
from dockyard.lint.shell import ParsedShell, parse_shell

__all__ = [
    "Edit",
    "Finding",
    "FromImage",
    "Instruction",
    "Severity",
    "Stage",
    "parse_from",
]


class Severity(enum.IntEnum):
    """hadolint's levels, most severe first in value order (ERROR is the highest)."""

    NONE = 0
    STYLE = 1
    INFO = 2
    WARNING = 3
    ERROR = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        value = text.strip().lower()
        aliases = {"warn": "warning", "err": "error", "ignore": "none", "off": "none"}
        value = aliases.get(value, value)
        for member in cls:
            if member.label == value:
                return member
        raise ValueError(f"unknown severity {text!r} (use error, warning, info, style or none)")


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace source lines ``start..end`` (1-based, inclusive) with ``lines``.

    ``end = start - 1`` inserts before ``start`` without removing anything.
    """

    start: int
    end: int
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule violation at file:line:column; ``fix`` is the hint shown to the user."""

    file: str
    line: int
    column: int
    code: str
    level: Severity
    message: str
    fix: str | None = None
    edits: tuple[Edit, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "code": self.code,
            "column": self.column,
            "file": self.file,
            "level": self.level.label,
            "line": self.line,
            "message": self.message,
        }
        if self.fix:
            data["fix"] = self.fix
        return data


_NON_POSIX = ("pwsh", "powershell", "cmd")


@dataclass(frozen=True, slots=True)
class FromImage:
    """A FROM line split like hadolint does: image, tag, digest, alias, platform."""

    image: str
    tag: str | None
    digest: str | None
    alias: str | None
    platform: str | None

    @property
    def registry(self) -> str | None:
        first, sep, _ = self.image.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            return first
        return None

    @property
    def repository(self) -> str:
        """The path without the registry (``library/`` kept off): ``golang``, ``org/app``."""
        name = self.image
        if self.registry is not None:
            name = name.split("/", 1)[1]
        return name.removeprefix("library/")

    @property
    def short_name(self) -> str:
        return self.repository.rsplit("/", 1)[-1]


def parse_from(args: tuple[str, ...], flags: tuple[str, ...]) -> FromImage:
    ref = args[0] if args else ""
    alias = args[2] if len(args) >= 3 and args[1].lower() == "as" else None
    platform = None
    for flag in flags:
        if flag.startswith("--platform="):
            platform = flag.split("=", 1)[1]
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
    return FromImage(ref, tag, digest, alias, platform)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction as rules see it; ONBUILD triggers keep their own keyword."""

    keyword: str  # upper case: RUN, COPY, ...
    line: int
    end_line: int
    args: tuple[str, ...]
    flags: tuple[str, ...]
    json: bool
    node: Node
    index: int  # position in the file
    stage: int  # index of the stage it belongs to (-1 before the first FROM)
    onbuild: bool = False
    heredocs: tuple[Heredoc, ...] = ()

    @property
    def shell_text(self) -> str:
        """The script a RUN runs: the shell-form text, exec words joined, or its heredocs."""
        if self.heredocs and self.args and self.args[0].startswith("<<"):
            return "\n".join(doc.content for doc in self.heredocs)
        return " ".join(self.args)

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value`` (last one wins), or None."""
        found: str | None = None
        prefix = f"--{name}="
        for flag in self.flags:
            if flag.startswith(prefix):
                found = flag[len(prefix) :]
            elif flag == f"--{name}":
                found = ""
        return found

    def flag_values(self, name: str) -> tuple[str, ...]:
        prefix = f"--{name}="
        return tuple(flag[len(prefix) :] for flag in self.flags if flag.startswith(prefix))


@dataclass(frozen=True, slots=True)
class Stage:
    """A build stage: its FROM and the instructions after it."""

    index: int
    from_: FromImage
    line: int
    instructions: tuple[Instruction, ...]


def cache_mount_targets(instruction: Instruction) -> tuple[str, ...]:
    """Targets of ``--mount=type=cache`` on a RUN."""
    out: list[str] = []
    for value in instruction.flag_values("mount"):
        opts: dict[str, str] = {}
        for part in value.split(","):
            key, _, val = part.partition("=")
            opts[key.strip().lower()] = val
        if opts.get("type") == "cache":
            target = opts.get("target") or opts.get("dst") or opts.get("destination") or ""
            out.append(target)
    return tuple(out)


def mount_sources(instruction: Instruction) -> tuple[str, ...]:
    """The ``from=`` of every ``--mount`` on a RUN (stages or images it reads)."""
    out: list[str] = []
    for value in instruction.flag_values("mount"):
        out.extend(part[5:] for part in value.split(",") if part.startswith("from="))
    return tuple(out)


_SHELL_CACHE: dict[str, ParsedShell] = {}


def parsed_shell(text: str) -> ParsedShell:
    """Parse a RUN script once per distinct text."""
    found = _SHELL_CACHE.get(text)
    if found is None:
        if len(_SHELL_CACHE) > 4096:
            _SHELL_CACHE.clear()
        found = _SHELL_CACHE[text] = parse_shell(text)
    return found


def is_non_posix_shell(args: tuple[str, ...]) -> bool:
    text = " ".join(args)
    return any(text.startswith(name) for name in _NON_POSIX)


_WORD = re.compile(r"\S+")


@dataclass(slots=True)
class LintInput:
    """A Dockerfile prepared for rules: instructions, stages and what is known of its context."""

    path: str
    text: str
    dockerfile: Dockerfile
    instructions: list[Instruction]
    stages: list[Stage]
    lines: list[str]
    context_entries: frozenset[str] | None = None  # top-level names in the build context
    has_dockerignore: bool = False
    trusted_registries: tuple[str, ...] = ()
    shells: dict[int, ParsedShell | None] = field(default_factory=dict)

    def shell(self, instruction: Instruction) -> ParsedShell | None:
        """The parsed script of a RUN, or None when its SHELL is not POSIX."""
        if instruction.index in self.shells:
            return self.shells[instruction.index]
        result: ParsedShell | None = None
        if not self.non_posix_at(instruction):
            result = parsed_shell(instruction.shell_text)
        self.shells[instruction.index] = result
        return result

    def non_posix_at(self, instruction: Instruction) -> bool:
        current = False
        for other in self.instructions:
            if other.index >= instruction.index:
                break
            if other.keyword == "FROM":
                current = False
            elif other.keyword == "SHELL" and not other.onbuild:
                current = is_non_posix_shell(other.args)
        return current

    def runs(self) -> list[Instruction]:
        return [inst for inst in self.instructions if inst.keyword == "RUN"]

    @property
    def stage_names(self) -> dict[str, int]:
        return {
            stage.from_.alias.lower(): stage.index for stage in self.stages if stage.from_.alias
        }
