"""What a build is asked to do: options as buildx takes them, parsed into immutable values."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from dockyard.errors import UsageError
from dockyard.oci import Platform

__all__ = [
    "BuildContextSource",
    "BuildOptions",
    "CacheSpec",
    "OutputSpec",
    "SecretSpec",
    "SshSpec",
    "parse_build_arg",
    "parse_build_context",
    "parse_cache_spec",
    "parse_output",
    "parse_secret",
    "parse_ssh",
]

OUTPUT_TYPES = ("image", "oci", "docker", "registry", "local", "tar")
NETWORK_MODES = ("default", "none", "host")


def _csv_fields(text: str, flag: str) -> dict[str, str]:
    """buildx's CSV ``key=value,key=value`` syntax (quotes allowed around values)."""
    try:
        row = next(csv.reader([text]))
    except (csv.Error, StopIteration) as exc:
        raise UsageError(f"invalid {flag} value {text!r}") from exc
    out: dict[str, str] = {}
    for item in row:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise UsageError(
                f"invalid {flag} field {item!r} in {text!r}",
                hint=f"use {flag} key=value[,key=value]",
            )
        out[key] = value
    return out


def _flag_bool(value: str, flag: str, key: str) -> bool:
    if value.lower() in ("true", "1", "yes", ""):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise UsageError(f"invalid {flag} {key}={value!r}: want true or false")


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """One ``--output``: where the result goes."""

    type: str
    dest: str = ""
    tar: bool = True
    compression: str = "gzip"
    oci_mediatypes: bool = True
    name: str = ""
    push: bool = False

    def __post_init__(self) -> None:
        if self.type not in OUTPUT_TYPES:
            raise UsageError(
                f"unknown output type {self.type!r}", hint=f"use one of {', '.join(OUTPUT_TYPES)}"
            )
        if self.type in ("oci", "docker", "local", "tar") and not self.dest:
            raise UsageError(f"--output type={self.type} needs dest=PATH")
        if self.compression not in ("gzip", "zstd", "uncompressed"):
            raise UsageError(
                f"unknown compression {self.compression!r}", hint="use gzip, zstd or uncompressed"
            )


def parse_output(text: str) -> OutputSpec:
    """``type=oci,dest=out.tar`` or the shorthand ``-o DIR`` (= ``type=local,dest=DIR``) / ``-o -``."""
    if "=" not in text:
        return OutputSpec(type="tar" if text == "-" else "local", dest=text)
    fields = _csv_fields(text, "--output")
    kind = fields.pop("type", "local" if "dest" in fields else "")
    if not kind:
        raise UsageError(f"--output {text!r} has no type=", hint="e.g. type=oci,dest=image.tar")
    spec = OutputSpec(
        type=kind,
        dest=fields.pop("dest", ""),
        tar=_flag_bool(fields.pop("tar", "true"), "--output", "tar"),
        compression=fields.pop("compression", "gzip"),
        oci_mediatypes=_flag_bool(
            fields.pop("oci-mediatypes", "true"), "--output", "oci-mediatypes"
        ),
        name=fields.pop("name", ""),
        push=_flag_bool(fields.pop("push", "false"), "--output", "push"),
    )
    fields.pop("compression-level", None)
    fields.pop("force-compression", None)
    if fields:
        raise UsageError(f"unknown --output option(s) {', '.join(sorted(fields))} for type={kind}")
    return spec


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """One ``--secret id=ID,src=PATH|env=VAR``; the value is read only when a RUN mounts it."""

    id: str
    src: str = ""
    env: str = ""


def parse_secret(text: str) -> SecretSpec:
    fields = _csv_fields(text, "--secret")
    secret_id = fields.pop("id", "")
    src = fields.pop("src", fields.pop("source", ""))
    env = fields.pop("env", "")
    fields.pop("type", None)
    if fields:
        raise UsageError(f"unknown --secret option(s) {', '.join(sorted(fields))}")
    if not secret_id:
        if not src and not env:
            raise UsageError(f"--secret {text!r} needs id= and src= or env=")
        secret_id = Path(src).name if src else env
    if not src and not env:
        env = secret_id  # buildx: id alone reads the environment variable of that name
    return SecretSpec(secret_id, src, env)


@dataclass(frozen=True, slots=True)
class BuildContextSource:
    """One ``--build-context NAME=VALUE``: an OCI layout, an image reference or a directory."""

    name: str
    kind: str  # "oci-layout", "docker-image", "local"
    value: str  # layout path[:tag] / reference / directory


def parse_build_context(text: str) -> BuildContextSource:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise UsageError(
            f"invalid --build-context {text!r}",
            hint="use NAME=oci-layout://PATH[:TAG], NAME=docker-image://REF or NAME=DIR",
        )
    for scheme, kind in (("oci-layout://", "oci-layout"), ("docker-image://", "docker-image")):
        if value.startswith(scheme):
            return BuildContextSource(name, kind, value.removeprefix(scheme))
    if "://" in value:
        raise UsageError(
            f"unsupported --build-context source {value!r}",
            hint="use oci-layout://, docker-image:// or a directory",
        )
    return BuildContextSource(name, "local", value)


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """One ``--cache-to`` / ``--cache-from``: ``type=registry,ref=...``, ``type=local,...``, ``type=inline``."""

    type: str
    ref: str = ""
    path: str = ""
    mode: str = "min"
    ignore_error: bool = True


def parse_cache_spec(text: str, *, exporting: bool) -> CacheSpec:
    flag = "--cache-to" if exporting else "--cache-from"
    if "=" not in text:  # buildx: a bare value is a registry reference
        return CacheSpec("registry", ref=text)
    fields = _csv_fields(text, flag)
    kind = fields.pop("type", "registry")
    if kind not in ("registry", "local", "inline"):
        raise UsageError(f"unknown {flag} type {kind!r}", hint="use registry, local or inline")
    path = fields.pop("dest" if exporting else "src", "")
    spec = CacheSpec(
        type=kind,
        ref=fields.pop("ref", ""),
        path=path,
        mode=fields.pop("mode", "min"),
        ignore_error=_flag_bool(fields.pop("ignore-error", "true"), flag, "ignore-error"),
    )
    fields.pop("oci-mediatypes", None)
    fields.pop("image-manifest", None)
    fields.pop("compression", None)
    if fields:
        raise UsageError(f"unknown {flag} option(s) {', '.join(sorted(fields))}")
    if spec.mode not in ("min", "max"):
        raise UsageError(f"invalid {flag} mode={spec.mode!r}: want min or max")
    if kind == "registry" and not spec.ref:
        raise UsageError(f"{flag} type=registry needs ref=REFERENCE")
    if kind == "local" and not spec.path:
        raise UsageError(f"{flag} type=local needs {'dest' if exporting else 'src'}=DIR")
    return spec


def parse_build_arg(text: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``K=V``, or ``K`` alone taking the value from the environment (skipped when unset)."""
    key, sep, value = text.partition("=")
    if not key:
        raise UsageError(f"invalid --build-arg {text!r}", hint="use KEY=VALUE or KEY")
    if sep:
        return key, value
    return (key, environ[key]) if key in environ else None


@dataclass(frozen=True, slots=True)
class SshSpec:
    """One ``--ssh ID[=SOCKET|KEY[,KEY...]]``: an agent socket, or keys to load into one."""

    id: str
    paths: tuple[str, ...] = ()  # empty: $SSH_AUTH_SOCK


def parse_ssh(text: str) -> SshSpec:
    """``default``, ``ID``, ``ID=/path/to/agent.sock`` or ``ID=KEY[,KEY...]`` (as buildx)."""
    ssh_id, sep, rest = text.partition("=")
    if not ssh_id or (sep and not rest):
        raise UsageError(
            f"invalid --ssh {text!r}", hint="use default, ID=SOCKET or ID=KEYFILE[,KEYFILE]"
        )
    return SshSpec(ssh_id, tuple(p for p in rest.split(",") if p) if sep else ())


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """Everything ``dockyard build`` was asked for, validated."""

    context: Path | None  # None when the Dockerfile came on stdin with no context
    dockerfile: Path | None
    dockerfile_text: str | None = None
    tags: tuple[str, ...] = ()
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict, hash=False)
    build_contexts: tuple[BuildContextSource, ...] = ()
    platform: Platform = field(default_factory=Platform.host)
    network: str = "default"
    secrets: tuple[SecretSpec, ...] = ()
    ssh: tuple[SshSpec, ...] = ()
    no_cache: bool = False
    outputs: tuple[OutputSpec, ...] = ()
    cache_from: tuple[CacheSpec, ...] = ()
    cache_to: tuple[CacheSpec, ...] = ()
    jobs: int = 0
    explain_cache: bool = False
    insecure_registries: tuple[str, ...] = ()
    record: str | None = None  # the request (replay.build_request): write a build record

    def __post_init__(self) -> None:
        object.__setattr__(self, "build_args", MappingProxyType(dict(self.build_args)))
        if self.network not in NETWORK_MODES:
            raise UsageError(
                f"unknown network mode {self.network!r}", hint="use default, none or host"
            )
        host = Platform.host()
        if not host.matches(self.platform):
            raise UsageError(
                f"cannot build for {self.platform} on a {host} host",
                hint="cross-platform builds are not supported yet; drop --platform",
            )

    def with_outputs(self, outputs: Sequence[OutputSpec]) -> BuildOptions:
        from dataclasses import replace

        return replace(self, outputs=tuple(outputs))
