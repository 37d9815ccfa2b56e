"""Parsers for distro advisory formats (Alpine secdb, Debian DSA/DLA lists) into Advisories.

Pure functions over decoded data or text; reading the files is the importer's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.errors import InputError
from dockyard.scan.osv import Advisory, Affected, Range

__all__ = ["DebianList", "parse_alpine_secdb", "parse_debian_list"]

_CVE_SPACED = re.compile(r"^CVE\s+(\d{4}-\d+)")


def _secfix_ids(entry: Any) -> tuple[str, tuple[str, ...]] | None:
    text = _CVE_SPACED.sub(r"CVE-\1", str(entry).strip())
    tokens = text.split()
    if not tokens:
        return None
    return tokens[0], tuple(tokens[1:])


def parse_alpine_secdb(docs: Iterable[tuple[str, Any]]) -> list[Advisory]:
    """Alpine secdb documents (location, decoded YAML) as advisories, one per CVE.

    Each ``secfixes`` entry ``fixed-version: [CVE...]`` becomes an affected range
    ``introduced 0, fixed VERSION`` for ``Alpine:vX.Y`` and the package (origin) name;
    a fixed version of ``0`` means the branch was never affected and is skipped.
    """
    by_id: dict[str, tuple[set[str], list[Affected]]] = {}
    for location, doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("distroversion"), str):
            raise InputError("not an Alpine secdb document (no `distroversion`)", location=location)
        branch = doc["distroversion"]
        ecosystem = f"Alpine:{branch}"
        for item in doc.get("packages") or []:
            pkg = item.get("pkg") if isinstance(item, dict) else None
            if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str):
                raise InputError("a package entry without `pkg.name`", location=location)
            for fixed, entries in (pkg.get("secfixes") or {}).items():
                fixed_version = str(fixed).strip()
                if fixed_version in ("0", ""):
                    continue
                for entry in entries or []:
                    ids = _secfix_ids(entry)
                    if ids is None:
                        continue
                    vuln_id, aliases = ids
                    known_aliases, affected = by_id.setdefault(vuln_id, (set(), []))
                    known_aliases.update(aliases)
                    affected.append(
                        Affected(
                            ecosystem,
                            pkg["name"].lower(),
                            (Range("ECOSYSTEM", (("introduced", "0"), ("fixed", fixed_version))),),
                        )
                    )
    return [
        Advisory(
            id=vuln_id,
            source="alpine-secdb",
            aliases=tuple(sorted(aliases)),
            summary="",
            affected=tuple(affected),
        )
        for vuln_id, (aliases, affected) in by_id.items()
    ]


_HEADER = re.compile(
    r"^\[(\d{1,2} \w{3} \d{4})\] ((?:DSA|DLA|DTSA)-[\w-]+)\s+(\S+)(?:\s+(?:-\s+)?(.*))?$"
)
_CVES = re.compile(r"^\s+\{([^}]*)\}")
_FIX = re.compile(r"^\s+\[(\w+)\] - (\S+)(?: (\S+))?")


@dataclass(frozen=True, slots=True)
class DebianList:
    """A parsed DSA or DLA list: its advisories and the date of the newest one."""

    advisories: list[Advisory]
    newest: datetime | None


def parse_debian_list(text: str, *, source: str, location: str) -> DebianList:
    """A Debian security tracker ``data/DSA/list`` or ``data/DLA/list`` as advisories.

    One advisory per CVE, with the DSA/DLA IDs as aliases. Keyed by SOURCE package: ``[release] - srcpkg fixed-version`` becomes an affected
    range for ``Debian:release``; ``<not-affected>`` is skipped and ``<unfixed>`` or
    ``<end-of-life>`` are affected without a fix. Raises InputError at file:line
    for a line that is not part of the format.
    """
    newest: datetime | None = None
    current: dict[str, Any] | None = None

    merged: dict[str, dict[str, Any]] = {}

    def flush() -> None:
        # one advisory per CVE (a DSA fixing ten CVEs is ten vulnerabilities), the DSA
        # as an alias; a DSA without CVEs (a regression update) stays under its own ID
        if current is None:
            return
        for vuln_id in current["aliases"] or [current["id"]]:
            entry = merged.setdefault(
                vuln_id,
                {
                    "aliases": [],
                    "summary": current["summary"],
                    "published": current["published"],
                    "affected": [],
                },
            )
            if vuln_id != current["id"]:
                entry["aliases"].append(current["id"])
            entry["affected"].extend(current["affected"])

    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        header = _HEADER.match(line)
        if header:
            flush()
            try:
                date = datetime.strptime(header.group(1), "%d %b %Y").replace(tzinfo=UTC)
            except ValueError as exc:
                raise InputError(
                    f"bad date {header.group(1)!r}", location=f"{location}:{number}"
                ) from exc
            newest = date if newest is None or date > newest else newest
            title = header.group(4) or ""
            current = {
                "id": header.group(2),
                "aliases": [],
                "summary": f"{header.group(3)} - {title}".strip(" -"),
                "published": date.date().isoformat(),
                "affected": [],
            }
            continue
        if current is None:
            raise InputError(
                "expected an advisory header like `[01 Jan 2023] DSA-1234-1 pkg - title`",
                location=f"{location}:{number}",
            )
        cves = _CVES.match(line)
        if cves:
            current["aliases"].extend(cves.group(1).split())
            continue
        fix = _FIX.match(line)
        if fix:
            release, package, version = fix.group(1), fix.group(2), fix.group(3) or ""
            ecosystem = f"Debian:{release}"
            if version == "<not-affected>":
                continue
            if version.startswith("<"):
                affected = Affected(
                    ecosystem,
                    package.lower(),
                    (Range("ECOSYSTEM", (("introduced", "0"),)),),
                    status=version.strip("<>"),
                )
            else:
                affected = Affected(
                    ecosystem,
                    package.lower(),
                    (Range("ECOSYSTEM", (("introduced", "0"), ("fixed", version))),),
                )
            current["affected"].append(affected)
            continue
        if line[:1].isspace():
            continue  # NOTE: lines and other annotations
        raise InputError(f"unexpected line {line.strip()[:60]!r}", location=f"{location}:{number}")
    flush()
    advisories = [
        Advisory(
            id=vuln_id,
            source=source,
            aliases=tuple(entry["aliases"]),
            summary=entry["summary"],
            published=entry["published"],
            affected=tuple(entry["affected"]),
        )
        for vuln_id, entry in merged.items()
    ]
    return DebianList(advisories, newest)
