"""One stage of a build: its instructions evaluated in order against its filesystem and config."""

from __future__ import annotations

import dataclasses
import datetime as dt
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.build.layers import Layer
from dockyard.dockerfile import (
    CmdInstruction,
    EntrypointInstruction,
    EnvInstruction,
    ExposeInstruction,
    HealthcheckInstruction,
    Instruction,
    LabelInstruction,
    MaintainerInstruction,
    OnbuildInstruction,
    ShellInstruction,
    StopsignalInstruction,
    UserInstruction,
    VolumeInstruction,
)
from dockyard.oci import ContainerConfig, HistoryEntry, ImageConfig

__all__ = [
    "DEFAULT_PATH_ENV",
    "DEFAULT_SHELL",
    "StageState",
    "apply_metadata",
    "created_by",
    "fill_history_times",
]

DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(slots=True)
class StageState:
    """The mutable state of a stage while its instructions run (one thread owns it)."""

    layers: list[Layer]
    config: ContainerConfig
    image: ImageConfig  # the base image's config (architecture, os, history, ...)
    key: str  # the cache key of the current filesystem
    history: list[HistoryEntry] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)  # ARGs declared in this stage, with values
    cmd_set: bool = False
    author: str = ""

    def expansion_env(self) -> dict[str, str]:
        """What ``$VAR`` sees in an instruction: the stage's ARGs, overridden by ENV."""
        return {**self.args, **self.config.env_map()}

    def run_env(self) -> tuple[str, ...]:
        """The environment of a RUN: ENV, plus ARGs that ENV does not set."""
        env = self.config.env_map()
        extra = [f"{k}={v}" for k, v in self.args.items() if k not in env]
        return (*self.config.env, *extra)

    @property
    def shell(self) -> tuple[str, ...]:
        return self.config.shell or DEFAULT_SHELL

    def workdir(self) -> str:
        return self.config.working_dir or "/"


def _set_env(env: tuple[str, ...], key: str, value: str) -> tuple[str, ...]:
    """Replace ``key`` in place (keeping its position) or append it."""
    out = list(env)
    for i, item in enumerate(out):
        if item.partition("=")[0] == key:
            out[i] = f"{key}={value}"
            return tuple(out)
    out.append(f"{key}={value}")
    return tuple(out)


def _command(state: StageState, command: tuple[str, ...], prepend_shell: bool) -> tuple[str, ...]:
    return (*state.shell, " ".join(command)) if prepend_shell else command


def _port(port: str) -> str:
    return port if "/" in port else f"{port}/tcp"


def _healthcheck(instr: HealthcheckInstruction) -> dict[str, Any]:
    durations = (
        ("Interval", instr.interval),
        ("Timeout", instr.timeout),
        ("StartPeriod", instr.start_period),
        ("StartInterval", instr.start_interval),
        ("Retries", instr.retries),
    )
    return {"Test": list(instr.test), **{name: value for name, value in durations if value}}


def apply_metadata(state: StageState, instr: Instruction) -> bool:
    """Apply an (already expanded) instruction that only changes the config; False if not one.

    Follows BuildKit: ENTRYPOINT resets an inherited CMD unless this stage set CMD;
    shell forms are wrapped in the current SHELL; ports default to tcp.
    """
    from dataclasses import replace

    cfg = state.config
    if isinstance(instr, EnvInstruction):
        env = cfg.env
        for pair in instr.pairs:
            env = _set_env(env, pair.key, pair.value)
        state.config = replace(cfg, env=env)
    elif isinstance(instr, LabelInstruction):
        state.config = replace(cfg, labels={**cfg.labels, **{p.key: p.value for p in instr.pairs}})
    elif isinstance(instr, ExposeInstruction):
        ports = sorted({*cfg.exposed_ports, *(_port(p) for p in instr.ports)})
        state.config = replace(cfg, exposed_ports=tuple(ports))
    elif isinstance(instr, VolumeInstruction):
        state.config = replace(cfg, volumes=tuple(sorted({*cfg.volumes, *instr.volumes})))
    elif isinstance(instr, UserInstruction):
        state.config = replace(cfg, user=instr.user)
    elif isinstance(instr, StopsignalInstruction):
        state.config = replace(cfg, stop_signal=instr.signal)
    elif isinstance(instr, ShellInstruction):
        state.config = replace(cfg, shell=instr.shell)
    elif isinstance(instr, CmdInstruction):
        state.config = replace(cfg, cmd=_command(state, instr.command, instr.prepend_shell))
        state.cmd_set = True
    elif isinstance(instr, EntrypointInstruction):
        entrypoint = (
            None if instr.command is None else _command(state, instr.command, instr.prepend_shell)
        )
        state.config = replace(cfg, entrypoint=entrypoint, cmd=cfg.cmd if state.cmd_set else None)
    elif isinstance(instr, HealthcheckInstruction):
        state.config = replace(cfg, healthcheck=_healthcheck(instr))
    elif isinstance(instr, OnbuildInstruction):
        state.config = replace(cfg, on_build=(*cfg.on_build, instr.expression))
    elif isinstance(instr, MaintainerInstruction):
        state.author = instr.maintainer
    else:
        return False
    return True


def created_by(
    instr: Instruction, *, shell: tuple[str, ...] = DEFAULT_SHELL, command: tuple[str, ...] = ()
) -> str:
    """The history ``created_by`` BuildKit writes for an instruction."""
    keyword = type(instr).keyword
    if command:  # RUN: the command as run
        return f"{keyword} " + " ".join(command) + " # buildkit"
    text = instr.original.strip()
    rest = text.split(None, 1)[1] if " " in text or "\t" in text else ""
    if keyword in ("COPY", "ADD", "WORKDIR"):
        return f"{keyword} {rest} # buildkit".replace("  ", " ")
    return f"{keyword} {rest}".strip()


def fill_history_times(history: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    """Give every history entry without a time one, the way BuildKit's image exporter does.

    Entries without a time (metadata instructions, steps whose layer came out empty)
    take, up to the first timed entry that follows an untimed one, that entry's time
    (usually the build's first new layer), and after it the time of the timed entry
    before them; with no timed entry after an untimed one, the history's last time.
    So a rebuild whose layers all come from the cache yields the same config, byte for
    byte (``normalizeLayersAndHistory`` in BuildKit's image exporter).
    """
    created = ""
    seen_missing = False
    for entry in history:
        if entry.created:
            created = entry.created
            if seen_missing:
                break
        else:
            seen_missing = True
    out: list[HistoryEntry] = []
    seen_missing = False
    for entry in history:
        if entry.created:
            if seen_missing:
                created = entry.created
            out.append(entry)
        else:
            seen_missing = True
            out.append(dataclasses.replace(entry, created=created))
    return out


def now() -> str:
    """The current time as the image config writes it (RFC 3339, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def join_workdir(current: str, path: str) -> str:
    """WORKDIR semantics: relative paths are joined to the current working directory."""
    return posixpath.normpath(posixpath.join(current or "/", path))


def quote_command(argv: tuple[str, ...]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def env_mapping(pairs: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in pairs.items())
