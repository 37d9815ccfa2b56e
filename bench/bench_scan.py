"""Benchmark: `dockyard scan` of the debootstrap'd debian:12 (database warm and cold), and of a
generated 1 GB image read once; SBOM times against Trivy and Syft in the same run.

Usage: .venv/bin/python bench/bench_scan.py [--size-mb 1024] [--keep DIR] [--no-reference]

Part 1, the debootstrap'd `debian:12` of scripts/make-base-images (skipped with a note when
the base images have not been made):
  * `dockyard scan` with the database warm (imported before; best of 3) and cold (a fresh
    home: `dockyard db import` of the whole shared vulndb, then the scan);
  * `dockyard sbom` against `trivy image --format cyclonedx` and `syft` (their SBOM modes, the
    comparable work offline: their vulnerability databases cannot be fetched here).
Part 2, a generated image, with ratios against floors measured in the same run:
  * a plain read of every layer (gunzip + tar stream, every byte read): what any scanner
    that reads the image once must pay;
  * dockyard's own read of the image into the merged view (ImageFS), then cataloging;
  * `dockyard db import` of the whole shared vulndb (cold), and `dockyard scan` end to end
    as a subprocess with the database warm (peak memory of the process too).
The image is an OCI layout of 4 gzip layers: a Debian-like base (dpkg status with 400
packages, 200 Python dist-infos, 500 npm packages, Go binaries, non-Go ELF binaries, bulk
data), then layers that rewrite the dpkg status, whiteout files, and add more bulk data.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from dockyard.image.content import select_platform
from dockyard.image.layout import OCILayout
from dockyard.scan.catalog import catalog
from dockyard.scan.db import VulnDB, import_sources
from dockyard.scan.imagefs import ImageFS
from dockyard.scan.match import match
from dockyard.scan.scanner import attribute_layers

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DOCKYARD_SHARED", ROOT.parent / "shared"))
POOL = os.urandom(8 << 20)
CHUNK = 1 << 20


def _bulk(seed: int, size: int) -> bytes:
    offset = (seed * 7919) % (len(POOL) - size) if size < len(POOL) else 0
    return seed.to_bytes(8, "little") + POOL[offset : offset + size - 8]


def _status(count: int, extra: int = 0) -> str:
    parts = [
        f"Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\n"
        f"Source: src{i // 3}\nVersion: 1.{i}.0-{i % 5}+deb11u1\n"
        "Description: a package\n multi-line description\n"
        for i in range(count + extra)
    ]
    parts.append("Package: libssl1.1\nStatus: install ok installed\nArchitecture: amd64\n")
    parts[-1] += "Source: openssl\nVersion: 1.1.1n-0+deb11u3\n"
    return "\n".join(parts)


def _layer(path: Path, items: list[tuple[str, bytes | None, int]]) -> str:
    """Write a gzip layer; items are (name, data or None for a directory, mode)."""
    hasher = hashlib.sha256()

    class Tee(io.RawIOBase):
        def __init__(self, out: gzip.GzipFile) -> None:
            self.out = out

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            hasher.update(data)
            self.out.write(data)
            return len(data)

    with gzip.open(path, "wb", compresslevel=1) as out:
        tee = Tee(out)  # type: ignore[arg-type]
        with tarfile.open(fileobj=tee, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, data, mode in items:
                info = tarfile.TarInfo(name)
                info.mode = mode
                if data is None:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                    continue
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return "sha256:" + hasher.hexdigest()


def build_image(work: Path, total_mb: int) -> Path:
    layout = work / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    go = Path("/usr/bin/docker-registry").read_bytes()
    elf = Path("/bin/ls").read_bytes()
    os_release = b'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\n'
    bulk_size = 1 << 20
    per_layer = max(total_mb // 4, 1)
    site = "usr/lib/python3/dist-packages"
    base: list[tuple[str, bytes | None, int]] = [
        ("etc/", None, 0o755),
        ("etc/os-release", os_release, 0o644),
        ("var/lib/dpkg/status", _status(400).encode(), 0o644),
    ]
    base += [
        (f"{site}/p{i}-1.{i}.dist-info/METADATA", f"Name: p{i}\nVersion: 1.{i}\n\n".encode(), 0o644)
        for i in range(200)
    ]
    base += [
        (
            f"app/node_modules/n{i}/package.json",
            json.dumps({"name": f"n{i}", "version": f"1.0.{i}"}).encode(),
            0o644,
        )
        for i in range(500)
    ]
    base += [(f"usr/bin/go{i}", go, 0o755) for i in range(3)]
    base += [(f"usr/bin/elf{i}", elf, 0o755) for i in range(50)]
    used = (len(go) * 3 + len(elf) * 50) >> 20
    base += [
        (f"usr/share/bulk/b{i}", _bulk(i, bulk_size), 0o644)
        for i in range(max(per_layer - used, 1))
    ]
    layers = [base]
    layers.append(
        [("var/lib/dpkg/status", _status(400, 20).encode(), 0o644)]
        + [(f"{site}/.wh.p{i}-1.{i}.dist-info", b"", 0o644) for i in range(0, 200, 10)]
        + [(f"opt/data/a{i}", _bulk(1000 + i, bulk_size), 0o644) for i in range(per_layer)]
    )
    layers.append(
        [("usr/share/bulk/.wh..wh..opq", b"", 0o644)]
        + [(f"usr/share/bulk/c{i}", _bulk(2000 + i, bulk_size), 0o644) for i in range(per_layer)]
    )
    layers.append([(f"srv/d{i}", _bulk(3000 + i, bulk_size), 0o644) for i in range(per_layer)])
    descriptors, diff_ids = [], []
    for index, items in enumerate(layers):
        tmp = work / f"layer{index}.tar.gz"
        diff_ids.append(_layer(tmp, items))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        size = tmp.stat().st_size
        tmp.rename(blobs / digest)
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{digest}",
                "size": size,
            }
        )
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    (blobs / config_digest).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    (blobs / manifest_digest).write_bytes(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": f"sha256:{manifest_digest}",
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "1"},
                    }
                ],
            }
        )
    )
    return layout


def floor(layout: Path) -> tuple[float, int]:
    """Gunzip and walk every layer, reading every byte: the cost of reading the image once."""
    start = time.perf_counter()
    total = 0
    for blob in sorted((layout / "blobs" / "sha256").iterdir()):
        with blob.open("rb") as raw:
            if raw.read(2) != b"\x1f\x8b":
                continue
        with (
            gzip.open(blob, "rb") as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            for member in tar:
                handle = tar.extractfile(member) if member.isreg() else None
                if handle is not None:
                    while data := handle.read(CHUNK):
                        total += len(data)
    return time.perf_counter() - start, total


def _rchar() -> int:
    """Bytes this process has read through read(2) so far (page cache included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr.decode()[-2000:])
        raise SystemExit(f"{args[0]} failed")
    return elapsed


def _tool(name: str) -> str | None:
    local = ROOT / ".venv" / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


def debian_part(work: Path, reference: bool) -> None:
    cache = Path(
        os.environ.get(
            "DOCKYARD_BASE_CACHE",
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            / "dockyard"
            / "base-images",
        )
    )
    base = cache / "oci"
    if not (base / "index.json").is_file() or "debian-12" not in (base / "index.json").read_text():
        print(f"debian:12: no base images in {base}: run scripts/make-base-images (as root) first")
        return
    dockyard = [sys.executable, "-m", "dockyard"]
    env = dict(os.environ, DOCKYARD_HOME=str(work / "home-debian"))
    image = work / "debian"
    _timed([*dockyard, "copy", "--progress=quiet", f"oci:{base}:debian-12", f"oci:{image}"], env)
    size = sum(p.stat().st_size for p in (image / "blobs" / "sha256").iterdir())
    print(f"debian:12 (debootstrap --variant=minbase): {size / 1e6:.0f} MB compressed")
    scan = [*dockyard, "scan", f"oci:{image}", "--format=json", "--progress=quiet"]
    db_import = [*dockyard, "db", "import", str(SHARED / "vulndb"), "--progress=quiet"]
    colds = []
    for round_ in range(2):
        cold_env = dict(os.environ, DOCKYARD_HOME=str(work / f"home-cold{round_}"))
        imported = _timed(db_import, cold_env)
        scanned = _timed(scan, cold_env)
        colds.append((imported + scanned, imported, scanned))
    cold, imported, scanned = min(colds)
    warm_env = dict(os.environ, DOCKYARD_HOME=str(work / "home-cold0"))
    warm = min(_timed(scan, warm_env) for _ in range(3))
    print(f"  scan, database warm:       {warm:6.2f} s (best of 3)")
    print(
        f"  scan, database cold:       {cold:6.2f} s (import {imported:.2f} s + scan "
        f"{scanned:.2f} s; best of 2)"
    )
    if not reference:
        return
    ours = min(
        _timed([*dockyard, "sbom", f"oci:{image}", "--format=cyclonedx", "--progress=quiet"], env)
        for _ in range(3)
    )
    print(f"  dockyard sbom (cyclonedx): {ours:6.2f} s (best of 3)")
    tool_env = dict(
        os.environ,
        HOME=str(work / "tool-home"),
        SYFT_CHECK_FOR_APP_UPDATE="false",
        TRIVY_NO_PROGRESS="true",
    )
    trivy, syft = _tool("trivy"), _tool("syft")
    if trivy:
        args = [trivy, "image", "--input", str(image), "--format=cyclonedx", "--offline-scan"]
        args += ["--skip-db-update", "--skip-java-db-update", "--quiet"]
        best = min(
            _timed(
                [*args, "--cache-dir", str(work / f"trivy-cache{i}"), "-o", "/dev/null"], tool_env
            )
            for i in range(3)  # a fresh cache each time: trivy caches analysed layers
        )
        print(f"  trivy sbom (cyclonedx):    {best:6.2f} s  ratio dockyard/trivy {ours / best:.2f}")
    if syft:
        best = min(
            _timed(
                [syft, "scan", f"oci-dir:{image}", "-q", "-o", "cyclonedx-json=/dev/null"], tool_env
            )
            for _ in range(3)
        )
        print(f"  syft (cyclonedx):          {best:6.2f} s  ratio dockyard/syft {ours / best:.2f}")
    if not (trivy or syft):
        print("  no trivy/syft: pip install -e '.[dev]' for the reference SBOM times")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", type=Path, help="Build the image in DIR and keep it.")
    parser.add_argument("--no-reference", action="store_true", help="Do not time trivy and syft.")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scan-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        debian_part(work, not args.no_reference)
        start = time.perf_counter()
        layout = work / "layout"
        if not layout.is_dir():
            layout = build_image(work, args.size_mb)
        size = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
        print(
            f"image: {size / 1e6:.0f} MB compressed, built in {time.perf_counter() - start:.1f} s"
        )

        floor_time, raw = floor(layout)
        print(
            f"floor (gunzip + tar read):  {floor_time:6.2f} s  ({raw / 1e6 / floor_time:.0f} MB/s)"
        )

        start = time.perf_counter()
        before = _rchar()
        image = select_platform(OCILayout.open(layout).source("1"))
        with ImageFS(image, name=str(layout)) as fs:
            read_time = time.perf_counter() - start
            read_bytes = _rchar() - before
            found = attribute_layers(catalog(fs), fs)
        catalog_time = time.perf_counter() - start
        print(
            f"dockyard read (ImageFS):    {read_time:6.2f} s  ratio to floor "
            f"{read_time / floor_time:.2f}; read {read_bytes / 1e6:.0f} MB of {size / 1e6:.0f} MB "
            f"of blobs ({read_bytes / size:.2f}x: each layer once)"
        )
        print(
            f"dockyard read + catalog:    {catalog_time:6.2f} s  ({len(found.packages)} packages)"
        )

        db = work / "vuln.sqlite"
        start = time.perf_counter()
        infos = import_sources([SHARED / "vulndb"], db_path=db)
        import_time = time.perf_counter() - start
        count = sum(i.advisories for i in infos)
        print(f"db import (whole vulndb):   {import_time:6.2f} s  ({count} advisories)")

        start = time.perf_counter()
        with VulnDB.open(db) as vulndb:
            result = match(found, vulndb)
        print(
            f"match:                      {time.perf_counter() - start:6.2f} s  "
            f"({len(result.findings)} findings)"
        )

        env = dict(os.environ, DOCKYARD_HOME=str(work / "home"))
        gnu_time = shutil.which("time") or (
            "/usr/bin/time" if Path("/usr/bin/time").exists() else None
        )
        for label in ("cold", "warm"):
            rss_file = work / "rss"
            prefix = [gnu_time, "-f", "%M", "-o", str(rss_file)] if gnu_time else []
            start = time.perf_counter()
            proc = subprocess.run(
                [
                    *prefix,
                    *(sys.executable, "-m", "dockyard", "scan", f"oci:{layout}:1"),
                    *("--db", str(db), "--format", "json", "--progress", "quiet"),
                ],
                env=env,
                capture_output=True,
                check=False,
            )
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                print(proc.stderr.decode()[-2000:])
                raise SystemExit("dockyard scan failed")
            peak = (
                f"peak RSS {int(rss_file.read_text().split()[-1]) / 1024:.0f} MB"
                if gnu_time
                else ""
            )
            print(
                f"dockyard scan CLI ({label} page cache): {elapsed:6.2f} s  ratio to floor "
                f"{elapsed / floor_time:.2f}  {peak}"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
