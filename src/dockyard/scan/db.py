"""The local vulnerability database: import advisory sources into SQLite, look packages up."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from dockyard.errors import InputError, NotFoundError, ScanError
from dockyard.progress import NULL_SINK, Event, EventKind, ProgressSink
from dockyard.scan.osv import Advisory, Affected, Range, normalize_package_name, parse_osv
from dockyard.scan.sources import parse_alpine_secdb, parse_debian_list

__all__ = [
    "SCHEMA_VERSION",
    "SourceInfo",
    "VulnDB",
    "default_db_path",
    "dockyard_home",
    "import_sources",
]

SCHEMA_VERSION = "1"
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, origin TEXT NOT NULL,
    built TEXT, built_basis TEXT NOT NULL, imported TEXT NOT NULL,
    advisories INTEGER NOT NULL, affected INTEGER NOT NULL, withdrawn INTEGER NOT NULL
);
CREATE TABLE advisories (
    source TEXT NOT NULL, id TEXT NOT NULL, aliases TEXT NOT NULL, summary TEXT NOT NULL,
    severity TEXT NOT NULL, cvss_score REAL, cvss_vector TEXT, published TEXT, modified TEXT,
    refs TEXT NOT NULL, PRIMARY KEY (source, id)
);
CREATE TABLE affected (
    source TEXT NOT NULL, advisory TEXT NOT NULL, ecosystem TEXT NOT NULL,
    package TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX affected_lookup ON affected (ecosystem, package);
CREATE INDEX affected_source ON affected (source);
"""


def dockyard_home() -> Path:
    """``$DOCKYARD_HOME``, else ``~/.local/share/dockyard``."""
    env = os.environ.get("DOCKYARD_HOME")
    return Path(env) if env else Path.home() / ".local" / "share" / "dockyard"


def default_db_path() -> Path:
    """Where ``db import`` writes and ``scan`` reads: ``$DOCKYARD_HOME/db/vuln.sqlite``."""
    return dockyard_home() / "db" / "vuln.sqlite"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One imported source and when its data was built."""

    name: str
    kind: str  # osv, alpine-secdb, debian-tracker
    origin: str  # the paths it was imported from
    built: datetime | None  # the snapshot time of the data itself, None if unknown
    built_basis: str  # how ``built`` was found: newest record, newest advisory, given, unknown
    imported: datetime
    advisories: int
    affected: int
    withdrawn: int

    def age(self, now: datetime | None = None) -> timedelta | None:
        """How old the data is, or None when its build time is unknown."""
        if self.built is None:
            return None
        return (now or datetime.now(UTC)) - self.built

    def is_stale(self, max_age: timedelta, now: datetime | None = None) -> bool:
        """Older than ``max_age``, or of unknown age (which must be as loud as stale)."""
        age = self.age(now)
        return age is None or age > max_age


# ----------------------------------------------------------------------------- reading inputs


@dataclass
class _Pending:
    kind: str
    origins: set[str]
    advisories: dict[str, Advisory]
    built: datetime | None = None
    basis: str = "unknown"
    withdrawn: int = 0


def _iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(
            text.removesuffix("Z") + ("+00:00" if text.endswith("Z") else "")
        )
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if value.year > 1970 else None


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(location, bytes) of each candidate file under a file, directory or zip."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and _wanted(child.name):
                yield str(child), child.read_bytes()
    elif zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if not info.is_dir() and _wanted(PurePosixPath(info.filename).name):
                        yield f"{path}!{info.filename}", archive.read(info)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"cannot read zip archive: {exc}", location=str(path)) from exc
    elif path.is_file():
        yield str(path), path.read_bytes()
    else:
        raise InputError("no such file or directory", location=str(path))


def _wanted(name: str) -> bool:
    return name.endswith((".json", ".yaml", ".yml")) or name == "list"


def _decode(location: str, data: bytes) -> Any:
    try:
        if location.endswith(".json"):
            return json.loads(data)
        return yaml.load(io.BytesIO(data), Loader=_LOADER)  # noqa: S506 - a safe loader
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"cannot decode advisory file: {exc}", location=location) from exc


def _collect(paths: Sequence[Path], sink: ProgressSink) -> dict[str, _Pending]:
    pending: dict[str, _Pending] = {}
    for path in paths:
        count = 0
        before = {name: len(entry.advisories) for name, entry in pending.items()}
        for location, data in _members(path):
            count += 1
            if count % 1000 == 0:
                sink(Event("db import", EventKind.PROGRESS, current=count, total=None))
            name = PurePosixPath(location.replace("!", "/")).name
            if name == "list":
                _add_debian(pending, location, data)
                continue
            doc = _decode(location, data)
            if isinstance(doc, dict) and "distroversion" in doc:
                _add_alpine(pending, location, doc)
            elif isinstance(doc, dict) and "id" in doc:
                _add_osv(pending, location, doc)
            elif isinstance(doc, list) and all(isinstance(d, dict) and "id" in d for d in doc):
                for item in doc:
                    _add_osv(pending, location, item)
            else:
                raise InputError(
                    "not an OSV record, Alpine secdb or Debian DSA/DLA list",
                    location=location,
                    hint="pass OSV JSON/YAML files, directories or zips, secdb YAML or data/DSA/list",
                )
        if count == 0:
            raise InputError("no advisory files found", location=str(path))
        for name, entry in pending.items():
            if len(entry.advisories) != before.get(name, -1):
                entry.origins.add(str(path))
    return pending


def _add_osv(pending: dict[str, _Pending], location: str, doc: dict[str, Any]) -> None:
    advisory = parse_osv(doc, source="", location=location)
    ecosystem = advisory.affected[0].ecosystem.split(":", 1)[0] if advisory.affected else "unknown"
    name = f"osv-{ecosystem.lower().replace(' ', '-')}"
    entry = pending.setdefault(name, _Pending("osv", set(), {}))
    modified = _iso(advisory.modified)
    if modified and (entry.built is None or modified > entry.built):
        entry.built, entry.basis = modified, "newest record"
    if advisory.withdrawn:
        entry.withdrawn += 1
        return
    entry.advisories[advisory.id] = _with_source(advisory, name)


def _with_source(advisory: Advisory, source: str) -> Advisory:
    return Advisory(
        id=advisory.id,
        source=source,
        aliases=advisory.aliases,
        summary=advisory.summary,
        severity=advisory.severity,
        cvss_score=advisory.cvss_score,
        cvss_vector=advisory.cvss_vector,
        published=advisory.published,
        modified=advisory.modified,
        withdrawn=advisory.withdrawn,
        references=advisory.references,
        affected=advisory.affected,
    )


def _add_alpine(pending: dict[str, _Pending], location: str, doc: dict[str, Any]) -> None:
    entry = pending.setdefault("alpine-secdb", _Pending("alpine-secdb", set(), {}))
    for advisory in parse_alpine_secdb([(location, doc)]):
        known = entry.advisories.get(advisory.id)
        if known is not None:
            advisory = Advisory(
                id=advisory.id,
                source=advisory.source,
                aliases=tuple(sorted({*known.aliases, *advisory.aliases})),
                affected=known.affected + advisory.affected,
            )
        entry.advisories[advisory.id] = advisory


def _add_debian(pending: dict[str, _Pending], location: str, data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    kind = "dla" if "/DLA/" in location or 0 <= text.find("DLA-") < 20 else "dsa"
    name = f"debian-{kind}"
    parsed = parse_debian_list(text, source=name, location=location)
    entry = pending.setdefault(name, _Pending("debian-tracker", set(), {}))
    for advisory in parsed.advisories:
        entry.advisories[advisory.id] = advisory
    if parsed.newest and (entry.built is None or parsed.newest > entry.built):
        entry.built, entry.basis = parsed.newest, "newest advisory"


# ----------------------------------------------------------------------------- writing


def _affected_json(affected: Affected) -> str:
    return json.dumps(
        {
            "ranges": [[r.type, [list(e) for e in r.events]] for r in affected.ranges],
            "versions": list(affected.versions),
            "status": affected.status,
        },
        separators=(",", ":"),
    )


def import_sources(
    paths: Sequence[Path],
    *,
    db_path: Path | None = None,
    built_at: datetime | None = None,
    sink: ProgressSink = NULL_SINK,
    now: datetime | None = None,
) -> list[SourceInfo]:
    """Import advisory files into the database, replacing the sources they hold.

    ``paths`` are OSV JSON/YAML files, directories or zips, Alpine secdb YAML files or
    directories, and Debian tracker ``DSA/list``/``DLA/list`` files; the kind is found
    from the content. Sources already in the database and not in ``paths`` are kept.
    ``built_at`` states when the data was built for sources whose files do not say
    (the Alpine secdb; golang/vulndb's zero ``modified`` times); a source of unknown
    build time counts as stale. The database is written to a temp file and renamed over the old.
    Returns the sources imported.
    """
    target = db_path or default_db_path()
    sink(Event("db import", EventKind.START, f"importing {len(paths)} path(s)"))
    pending = _collect(paths, sink)
    imported = now or datetime.now(UTC)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".vuln-", suffix=".sqlite", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise ScanError(f"cannot create the database: {exc}", location=str(target)) from exc
    tmp = Path(tmp_name)
    infos: list[SourceInfo] = []
    try:
        fresh = not target.exists()
        if not fresh:
            shutil.copyfile(target, tmp)
        conn = sqlite3.connect(tmp)
        try:
            if fresh or not _has_schema(conn):
                conn.executescript(
                    "DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS sources;"
                    "DROP TABLE IF EXISTS advisories; DROP TABLE IF EXISTS affected;" + _SCHEMA
                )
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            with conn:
                for name, entry in sorted(pending.items()):
                    infos.append(_write_source(conn, name, entry, built_at, imported))
            if not fresh:
                conn.execute("VACUUM")
        finally:
            conn.close()
        tmp.chmod(0o644)
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        raise ScanError(f"cannot write the database: {exc}", location=str(target)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    sink(Event("db import", EventKind.DONE, f"{sum(i.advisories for i in infos)} advisories"))
    return infos


def _has_schema(conn: sqlite3.Connection) -> bool:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.DatabaseError:
        return False
    return bool(row and row[0] == SCHEMA_VERSION)


def _write_source(
    conn: sqlite3.Connection,
    name: str,
    entry: _Pending,
    built_at: datetime | None,
    imported: datetime,
) -> SourceInfo:
    for table, column in (("sources", "name"), ("advisories", "source"), ("affected", "source")):
        conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))  # noqa: S608
    built, basis = entry.built, entry.basis
    if built is None and built_at is not None:
        built, basis = built_at, "given at import"
    conn.executemany(
        "INSERT INTO advisories VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                name,
                a.id,
                json.dumps(list(a.aliases)),
                a.summary,
                a.severity,
                a.cvss_score,
                a.cvss_vector,
                a.published,
                a.modified,
                json.dumps(list(a.references)),
            )
            for a in entry.advisories.values()
        ],
    )
    rows = [
        (name, a.id, af.ecosystem.lower(), af.package, _affected_json(af))
        for a in entry.advisories.values()
        for af in a.affected
    ]
    conn.executemany("INSERT INTO affected VALUES (?, ?, ?, ?, ?)", rows)
    info = SourceInfo(
        name=name,
        kind=entry.kind,
        origin=", ".join(sorted(entry.origins)),
        built=built,
        built_basis=basis,
        imported=imported,
        advisories=len(entry.advisories),
        affected=len(rows),
        withdrawn=entry.withdrawn,
    )
    conn.execute(
        "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            info.name,
            info.kind,
            info.origin,
            info.built.isoformat() if info.built else None,
            info.built_basis,
            info.imported.isoformat(),
            info.advisories,
            info.affected,
            info.withdrawn,
        ),
    )
    return info


# ----------------------------------------------------------------------------- reading


class VulnDB:
    """A read-only view of the database; use ``VulnDB.open()`` and close it (or ``with``)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._advisories: dict[tuple[str, str], Advisory] = {}

    @classmethod
    def open(cls, path: Path | None = None) -> VulnDB:
        """Open the database; NotFoundError with a hint when it was never imported."""
        target = path or default_db_path()
        if not target.is_file():
            raise NotFoundError(
                "no vulnerability database",
                location=str(target),
                hint="import one with `dockyard db import PATH...`",
            )
        try:
            conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
            if not _has_schema(conn):
                conn.close()
                raise ScanError(
                    "the vulnerability database has an unknown schema",
                    location=str(target),
                    hint="re-import it with `dockyard db import PATH...`",
                )
        except sqlite3.Error as exc:
            raise ScanError(f"cannot open the database: {exc}", location=str(target)) from exc
        return cls(conn, target)

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def sources(self) -> list[SourceInfo]:
        """Every imported source, by name."""
        rows = self._conn.execute("SELECT * FROM sources ORDER BY name").fetchall()
        return [
            SourceInfo(
                name=row[0],
                kind=row[1],
                origin=row[2],
                built=_iso(row[3]) if row[3] else None,
                built_basis=row[4],
                imported=_iso(row[5]) or datetime.now(UTC),
                advisories=row[6],
                affected=row[7],
                withdrawn=row[8],
            )
            for row in rows
        ]

    def lookup(self, ecosystems: Sequence[str], package: str) -> list[tuple[Advisory, Affected]]:
        """The advisories with an affected entry for ``package`` in one of ``ecosystems``."""
        if not ecosystems:
            return []
        name = normalize_package_name(ecosystems[0], package)
        marks = ",".join("?" * len(ecosystems))
        try:
            rows = self._conn.execute(
                "SELECT source, advisory, ecosystem, package, data FROM affected "  # noqa: S608
                f"WHERE ecosystem IN ({marks}) AND package = ?",
                [*(e.lower() for e in ecosystems), name],
            ).fetchall()
        except sqlite3.Error as exc:
            raise ScanError(f"cannot read the database: {exc}", location=str(self.path)) from exc
        found = []
        for source, advisory_id, ecosystem, pkg, data in rows:
            raw = json.loads(data)
            affected = Affected(
                ecosystem,
                pkg,
                tuple(Range(t, tuple((k, v) for k, v in events)) for t, events in raw["ranges"]),
                tuple(raw["versions"]),
                raw.get("status", ""),
            )
            found.append((self._advisory(source, advisory_id), affected))
        return found

    def _advisory(self, source: str, advisory_id: str) -> Advisory:
        key = (source, advisory_id)
        cached = self._advisories.get(key)
        if cached is not None:
            return cached
        row = self._conn.execute(
            "SELECT aliases, summary, severity, cvss_score, cvss_vector, published, modified, refs "
            "FROM advisories WHERE source = ? AND id = ?",
            key,
        ).fetchone()
        if row is None:
            raise ScanError(
                f"advisory {advisory_id} of {source} is missing", location=str(self.path)
            )
        advisory = Advisory(
            id=advisory_id,
            source=source,
            aliases=tuple(json.loads(row[0])),
            summary=row[1],
            severity=row[2],
            cvss_score=row[3],
            cvss_vector=row[4],
            published=row[5],
            modified=row[6],
            references=tuple(json.loads(row[7])),
        )
        self._advisories[key] = advisory
        return advisory
