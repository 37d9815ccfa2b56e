"""Read the build information Go embeds in ELF binaries (Go version, main module, deps)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["GoBuildInfo", "GoModule", "parse_modinfo", "read_elf_section", "read_go_buildinfo"]

_MAGIC = b"\xff Go buildinf:"
_SENTINEL_LEN = 16  # modinfo is wrapped in 16-byte sentinels
_MAX_SECTION = 1 << 20


@dataclass(frozen=True, slots=True)
class GoModule:
    """A module linked into a binary; ``replaced_by`` when a ``=>`` line replaced it."""

    path: str
    version: str
    checksum: str = ""
    replaced_by: GoModule | None = None


@dataclass(frozen=True, slots=True)
class GoBuildInfo:
    """What ``go version -m`` prints: the toolchain, the main module, the dependencies."""

    go_version: str
    path: str
    main: GoModule | None
    deps: tuple[GoModule, ...]
    settings: tuple[tuple[str, str], ...]


def parse_modinfo(go_version: str, modinfo: str) -> GoBuildInfo:
    """Parse the tab-separated modinfo text of ``runtime/debug.BuildInfo``."""
    path = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    for line in modinfo.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind == "path" and len(fields) > 1:
            path = fields[1]
        elif kind == "mod" and len(fields) > 2:
            main = GoModule(fields[1], fields[2], fields[3] if len(fields) > 3 else "")
        elif kind == "dep" and len(fields) > 2:
            deps.append(GoModule(fields[1], fields[2], fields[3] if len(fields) > 3 else ""))
        elif kind == "=>" and len(fields) > 2 and deps:
            replacement = GoModule(fields[1], fields[2], fields[3] if len(fields) > 3 else "")
            last = deps.pop()
            deps.append(GoModule(last.path, last.version, last.checksum, replacement))
        elif kind == "build" and len(fields) > 1:
            key, _, value = fields[1].partition("=")
            settings.append((key, value))
    return GoBuildInfo(go_version, path, main, tuple(deps), tuple(settings))


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


@dataclass(frozen=True, slots=True)
class _Elf:
    little: bool
    is64: bool
    sections: tuple[tuple[str, int, int, int], ...]  # name, addr, offset, size (PROGBITS)
    segments: tuple[tuple[int, int, int], ...]  # vaddr, offset, filesz (PT_LOAD)


def _read_elf(handle: BinaryIO) -> _Elf | None:
    handle.seek(0)
    ident = handle.read(64)
    if len(ident) < 52 or ident[:4] != b"\x7fELF":
        return None
    is64 = ident[4] == 2
    little = ident[5] == 1
    end = "<" if little else ">"
    if is64:
        phoff, shoff = struct.unpack_from(end + "QQ", ident, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", ident, 54)
    else:
        phoff, shoff = struct.unpack_from(end + "II", ident, 28)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(end + "HHHHH", ident, 42)
    segments = []
    if phoff and phnum:
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
        for i in range(phnum):
            entry = table[i * phentsize : (i + 1) * phentsize]
            if len(entry) < phentsize:
                break
            if is64:
                p_type, _flags, off, vaddr, _paddr, filesz = struct.unpack_from(
                    end + "IIQQQQ", entry
                )
            else:
                p_type, off, vaddr, _paddr, filesz = struct.unpack_from(end + "IIIII", entry)
            if p_type == 1:
                segments.append((vaddr, off, filesz))
    raw_sections = []
    if shoff and shnum and shstrndx < shnum:
        handle.seek(shoff)
        table = handle.read(shentsize * shnum)
        for i in range(shnum):
            entry = table[i * shentsize : (i + 1) * shentsize]
            if len(entry) < shentsize:
                break
            if is64:
                name, sh_type, _flags, addr, off, size = struct.unpack_from(end + "IIQQQQ", entry)
            else:
                name, sh_type, _flags, addr, off, size = struct.unpack_from(end + "IIIIII", entry)
            raw_sections.append((name, sh_type, addr, off, size))
    sections = []
    if raw_sections:
        _n, _t, _a, str_off, str_size = raw_sections[shstrndx]
        handle.seek(str_off)
        names = handle.read(min(str_size, _MAX_SECTION))
        for name, sh_type, addr, off, size in raw_sections:
            label = names[name : names.find(b"\0", name)].decode("ascii", "replace")
            if sh_type != 8:  # not NOBITS
                sections.append((label, addr, off, size))
    return _Elf(little, is64, tuple(sections), tuple(segments))


def read_elf_section(handle: BinaryIO, name: str, limit: int = _MAX_SECTION) -> bytes | None:
    """The bytes of the ELF section ``name`` (at most ``limit``), or None if absent/not ELF."""
    elf = _read_elf(handle)
    if elf is None:
        return None
    for label, _addr, off, size in elf.sections:
        if label == name:
            handle.seek(off)
            return handle.read(min(size, limit))
    return None


def _read_at(handle: BinaryIO, elf: _Elf, addr: int, size: int) -> bytes:
    for vaddr, off, filesz in elf.segments:
        if vaddr <= addr < vaddr + filesz:
            handle.seek(off + addr - vaddr)
            return handle.read(min(size, vaddr + filesz - addr))
    return b""


def read_go_buildinfo(handle: BinaryIO) -> GoBuildInfo | None:
    """The build info of a Go ELF binary, or None for anything else (never runs it).

    Reads the ``.go.buildinfo`` section: Go 1.18+ stores the version and modinfo
    inline; older toolchains store pointers to Go strings, resolved via the segments.
    """
    elf = _read_elf(handle)
    if elf is None:
        return None
    found = [s for s in elf.sections if s[0] == ".go.buildinfo"]
    if found:
        _name, _addr, off, size = found[0]
        handle.seek(off)
        data = handle.read(min(size, _MAX_SECTION))
    else:  # section headers stripped: look at the start of each writable segment
        data = b""
        for vaddr, _off, filesz in elf.segments:
            head = _read_at(handle, elf, vaddr, min(filesz, _MAX_SECTION))
            at = head.find(_MAGIC)
            if at >= 0:
                data = head[at:]
                break
    if not data.startswith(_MAGIC) or len(data) < 32:
        return None
    ptr_size, flags = data[14], data[15]
    try:
        if flags & 2:  # Go 1.18+: inline varint-prefixed strings
            length, pos = _uvarint(data, 32)
            version = data[pos : pos + length].decode("utf-8", "replace")
            pos += length
            length, pos = _uvarint(data, pos)
            modinfo_raw = data[pos : pos + length]
        else:
            end = "<" if elf.little else ">"
            fmt = end + ("Q" if ptr_size == 8 else "I")

            def go_string(pointer_at: int) -> bytes:
                (header_addr,) = struct.unpack_from(fmt, data, pointer_at)
                header = _read_at(handle, elf, header_addr, 2 * ptr_size)
                if len(header) < 2 * ptr_size:
                    return b""
                (str_addr,) = struct.unpack_from(fmt, header, 0)
                (str_len,) = struct.unpack_from(fmt, header, ptr_size)
                return _read_at(handle, elf, str_addr, min(str_len, _MAX_SECTION))

            version = go_string(16).decode("utf-8", "replace")
            modinfo_raw = go_string(16 + ptr_size)
    except (ValueError, struct.error):
        return None
    if not version:
        return None
    modinfo = ""
    if len(modinfo_raw) >= 2 * _SENTINEL_LEN:
        modinfo = modinfo_raw[_SENTINEL_LEN:-_SENTINEL_LEN].decode("utf-8", "replace")
    return parse_modinfo(version, modinfo)
