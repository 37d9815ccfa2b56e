"""The database importer and reader, over real advisory data."""

from __future__ import annotations

import json
import shutil
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dockyard.errors import InputError, NotFoundError
from dockyard.scan.db import VulnDB, default_db_path, import_sources
from dockyard.scan.scanner import parse_duration, stale_warnings

from .conftest import BUILT


def test_small_db_sources(small_vulndb: Path) -> None:
    with VulnDB.open(small_vulndb) as db:
        sources = {s.name: s for s in db.sources()}
    assert set(sources) == {"alpine-secdb", "debian-dsa", "osv-go", "osv-pypi"}
    # files that say when they were built win over --built-at
    assert sources["debian-dsa"].built == datetime(2023, 3, 29, tzinfo=UTC)
    assert sources["debian-dsa"].built_basis == "newest advisory"
    assert sources["osv-pypi"].built is not None
    assert sources["osv-pypi"].built < datetime(2024, 10, 11, tzinfo=UTC)
    # golang/vulndb has zero `modified` times and the secdb no date: --built-at fills in
    assert sources["osv-go"].built == BUILT
    assert sources["osv-go"].built_basis == "given at import"
    assert sources["alpine-secdb"].built == BUILT
    assert sources["osv-go"].withdrawn == 2  # GO-2022-0617, GO-2024-2442 are withdrawn
    assert sources["osv-go"].advisories == 3  # and GO-2021-0113 for golang.org/x/text
    assert sources["debian-dsa"].advisories > 10000


def test_lookup_is_by_ecosystem_and_name(small_vulndb: Path) -> None:
    with VulnDB.open(small_vulndb) as db:
        hits = db.lookup(["Debian:bullseye", "Debian:11"], "openssl")
        assert hits
        assert all(a.ecosystem == "debian:bullseye" for _adv, a in hits)
        ids = {adv.id for adv, _a in hits}
        assert "CVE-2022-2097" in ids  # one advisory per CVE, the DSA as alias
        adv = next(adv for adv, _a in hits if adv.id == "CVE-2022-2097")
        assert "DSA-5343-1" in adv.aliases
        assert db.lookup(["PyPI"], "Requests")  # PEP 503 normalized
        assert not db.lookup(["PyPI"], "no-such-package")
        assert db.lookup(["Go"], "stdlib")


def test_import_all_shared_data(vulndb_dir: Path, tmp_path: Path) -> None:
    """The whole shared vulndb imports (a few seconds); the output replaces atomically."""
    db = tmp_path / "db" / "vuln.sqlite"
    infos = import_sources([vulndb_dir], db_path=db)
    assert {i.name for i in infos} == {
        "alpine-secdb",
        "debian-dla",
        "debian-dsa",
        "osv-go",
        "osv-pypi",
    }
    assert sum(i.advisories for i in infos) > 30000
    assert [p.name for p in db.parent.iterdir()] == ["vuln.sqlite"]  # no temp file left


def test_reimport_replaces_only_its_sources(
    small_vulndb: Path, vulndb_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.sqlite"
    shutil.copy(small_vulndb, db)
    import_sources([vulndb_dir / "pypi" / "requests"], db_path=db)
    with VulnDB.open(db) as opened:
        sources = {s.name: s for s in opened.sources()}
    assert sources["osv-pypi"].advisories == 5  # py's records are gone with the old source
    assert "debian-dsa" in sources  # other sources are kept


def test_zip_and_json_list(tmp_path: Path, vulndb_dir: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(vulndb_dir / "go" / "GO-2023-1840.json", "GO-2023-1840.json")
    db = tmp_path / "v.sqlite"
    infos = import_sources([archive], db_path=db)
    assert infos[0].name == "osv-go"
    assert infos[0].advisories == 1


def test_default_location_is_under_dockyard_home(dockyard_home: Path, vulndb_dir: Path) -> None:
    import_sources([vulndb_dir / "pypi" / "requests"])
    assert default_db_path() == dockyard_home / "db" / "vuln.sqlite"
    assert default_db_path().is_file()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", "{not json", "cannot decode"),
        ("bad.yaml", "a: [1", "cannot decode"),
        ("other.json", '{"hello": 1}', "not an OSV record"),
        ("list", "garbage line\n", "expected an advisory header"),
    ],
)
def test_bad_input_names_the_file(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_text(content)
    db = tmp_path / "v.sqlite"
    with pytest.raises(InputError) as info:
        import_sources([path.parent], db_path=db)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert not db.exists()
    assert list(tmp_path.glob(".vuln-*")) == []


def test_missing_path_and_missing_db(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_sources([tmp_path / "nope"], db_path=tmp_path / "v.sqlite")
    with pytest.raises(NotFoundError, match="db import"):
        VulnDB.open(tmp_path / "v.sqlite")


def test_freshness(small_vulndb: Path) -> None:
    with VulnDB.open(small_vulndb) as db:
        sources = db.sources()
    now = datetime(2026, 8, 23, tzinfo=UTC)
    warnings = stale_warnings(sources, timedelta(days=5), now)
    assert any("debian-dsa is" in w for w in warnings)
    assert any("MISSED" in w for w in warnings)
    assert not any("osv-go" in w for w in warnings)  # 2 days old
    assert stale_warnings([], timedelta(days=5), now)
    assert parse_duration("5d") == timedelta(days=5)
    assert parse_duration("120h") == timedelta(days=5)
    assert parse_duration("2w") == timedelta(days=14)
    with pytest.raises(InputError):
        parse_duration("soon")


def test_schema_is_plain_sqlite(small_vulndb: Path) -> None:
    conn = sqlite3.connect(small_vulndb)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        row = conn.execute("SELECT data FROM affected LIMIT 1").fetchone()
    finally:
        conn.close()
    assert {"sources", "advisories", "affected", "meta"} <= tables
    assert "ranges" in json.loads(row[0])
