"""Read the dependency list cargo-auditable embeds in Rust binaries (the ``.dep-v0`` section)."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.errors import ScanError
from dockyard.scan.gobinary import read_elf_section

__all__ = ["RustCrate", "parse_audit_data", "read_cargo_auditable"]

_SECTION = ".dep-v0"
_MAX_JSON = 8 << 20


@dataclass(frozen=True, slots=True)
class RustCrate:
    """One crate compiled into the binary."""

    name: str
    version: str
    source: str  # crates.io, git, local, registry
    kind: str  # runtime or build
    root: bool = False


def parse_audit_data(compressed: bytes) -> list[RustCrate]:
    """Decode the zlib-compressed JSON of a ``.dep-v0`` section; ScanError if malformed."""
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(compressed, _MAX_JSON)
        doc = json.loads(text)
    except (zlib.error, ValueError) as exc:
        raise ScanError(f"malformed cargo-auditable data: {exc}") from exc
    packages = doc.get("packages") if isinstance(doc, dict) else None
    if not isinstance(packages, list):
        raise ScanError("malformed cargo-auditable data: no packages list")
    crates = []
    for entry in packages:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            continue
        crates.append(
            RustCrate(
                name=name,
                version=version,
                source=str(entry.get("source", "crates.io")),
                kind=str(entry.get("kind", "runtime")),
                root=bool(entry.get("root", False)),
            )
        )
    return crates


def read_cargo_auditable(handle: BinaryIO) -> list[RustCrate] | None:
    """The crates of a cargo-auditable ELF binary, or None for any other file."""
    data = read_elf_section(handle, _SECTION)
    if data is None:
        return None
    return parse_audit_data(data)
