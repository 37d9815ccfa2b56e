"""Benchmark: ``dockyard build`` against BuildKit (dockerd 20.10, DOCKER_BUILDKIT=1) in one run.

Usage: sudo .venv/bin/python bench/bench_build.py [--quick] [--reps N] [--only 1,2,7]
                                                   [--json FILE]

Needs root (overlayfs, runc), dockerd 20.10 with /usr/bin/docker (started here if it is
not running, and then stopped again), skopeo (to load the busybox base image into dockerd
once as ``dybase:1``) and docker-registry (scenario 8). The shared busybox OCI layout is
read from ``$DOCKYARD_SHARED`` (default ``../shared`` beside the repository).

Scenarios (the list of issue 6), each run side by side, several repetitions, printing the
median of each tool and the ratio dockyard / BuildKit (below 1.0: dockyard is faster):

1. cold build of ``examples/shop`` (BuildKit: ``docker builder prune -af``; dockyard: a
   fresh ``DOCKYARD_HOME``),
2. no-op rebuild of it,
3. rebuild after changing one source file (the dependency layer hits),
4. rebuild after changing the dependency manifest,
5. four independent stages of ~2 s each joined by a final stage (cold),
6. a 20-service monorepo sharing a base stage: no-op rebuild of all 20, one process per
   service for both tools (plus dockyard's 20 builds in one process, for information),
7. a context of 50,000 files: no-op rebuild and one-file change,
8. an empty local cache building with a registry cache filled by another "machine" (another
   ``DOCKYARD_HOME``; ``--cache-to/--cache-from type=registry``), against BuildKit's inline
   cache (``BUILDKIT_INLINE_CACHE=1``, image pushed to a loopback registry, ``--cache-from``).

Both tools build the same Dockerfiles (the ``# syntax=`` line is dropped: dockerd cannot
fetch the frontend image offline) with ``--network=none``. Nothing is asserted; the
targets of the issue are printed beside the ratios. Everything made here (temporary
directories, ``dybench-*`` images, the registry, dockerd if it was started here) is removed
at the end; BuildKit's build cache is pruned, as the scenarios need.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DOCKYARD_SHARED", REPO.parent / "shared")).resolve()
BUSYBOX_OCI = SHARED / "conformance" / "base" / "busybox-oci"
DOCKER = "/usr/bin/docker"
DOCKYARD = str(Path(sys.executable).parent / "dockyard")
BASE = "dybase:1"
TAG_PREFIX = "dybench-"

TARGETS = {  # scenario -> (label, target ratio)
    "1": ("cold build (base image already local)", 1.0),
    "1b": ("  same, dockyard with an empty home", 1.0),
    "2": ("no-op rebuild", 0.2),
    "3": ("one source file changed", 0.7),
    "4": ("dependency manifest changed", None),
    "5": ("4 parallel stages of ~2 s (cold)", 1.0),
    "5b": ("  same, dockyard --jobs 4", 1.0),
    "6": ("20-service monorepo, no-op x20", 0.2),
    "6b": ("  same, dockyard in one process", 0.2),
    "7a": ("50,000-file context, no-op", 0.2),
    "7b": ("50,000-file context, one file changed", 0.7),
    "8": ("empty local cache + registry cache", 0.7),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- running


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    """Run a command to completion and return its wall time; fail loudly on an error."""
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace")[-3000:]
        raise SystemExit(f"bench: command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return elapsed


@dataclass
class Tools:
    """How each tool is invoked; holds the per-run state (registry, work directory)."""

    work: Path
    registry: str = ""  # "127.0.0.1:PORT" once started
    images: dict[str, str] = field(default_factory=dict)  # NAME -> oci:PATH:TAG, per home
    homes: list[Path] = field(default_factory=list)
    seed: Path | None = None

    # dockyard ---------------------------------------------------------------------
    def fresh_home(self) -> Path:
        """A new home holding the base images, as dockerd holds them (`docker load`)."""
        home = self.empty_home()
        for name, source in self.images.items():
            run(
                [DOCKYARD, "copy", "--progress", "quiet", source, name],
                env=self.dy_env(home),
            )
        return home

    def empty_home(self) -> Path:
        home = Path(tempfile.mkdtemp(prefix="home-", dir=self.work))
        self.homes.append(home)
        return home

    def seed_home(self, base: str) -> Path:
        """A home that has used ``base`` (its layers extracted), made once per run."""
        if self.seed is None:
            self.seed = self.fresh_home()
            write(self.work / "seed" / "Dockerfile", f"FROM {base}\nRUN true\n")
            self.dy(self.seed, self.work / "seed", "seed")
        return self.seed

    def copy_home(self, seed: Path) -> Path:
        """A new home sharing the seed's files by hard links (layer dirs are read-only)."""
        home = self.empty_home()
        home.rmdir()
        subprocess.run(["cp", "-al", str(seed), str(home)], check=True)
        return home

    def dy_env(self, home: Path) -> dict[str, str]:
        # Byte-code cached as in any installed package (some shells set
        # PYTHONDONTWRITEBYTECODE, which would time the compiler), kept in the work dir.
        env = {**os.environ, "DOCKYARD_HOME": str(home)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.work / "pycache")
        return env

    def dy_args(self, ctx: Path, tag: str, dockerfile: Path | None = None) -> list[str]:
        args = ["build", "--progress", "quiet", "--network", "none", "-t", TAG_PREFIX + tag]
        if dockerfile is not None:
            args += ["-f", str(dockerfile)]
        return [*args, str(ctx)]

    def dy(
        self, home: Path, ctx: Path, tag: str, dockerfile: Path | None = None, *extra: str
    ) -> float:
        args = self.dy_args(ctx, tag, dockerfile)
        return run([DOCKYARD, *args[:-1], *extra, args[-1]], env=self.dy_env(home))

    # BuildKit -------------------------------------------------------------------------
    def bk(self, ctx: Path, tag: str, dockerfile: Path | None = None, *extra: str) -> float:
        cmd = [DOCKER, "build", "--network=none", "-q", "-t", tag_ref(tag)]
        if dockerfile is not None:
            cmd += ["-f", str(dockerfile)]
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        return run([*cmd, *extra, str(ctx)], env=env)

    def bk_prune(self) -> None:
        run([DOCKER, "builder", "prune", "-af"])


def tag_ref(tag: str) -> str:
    return tag if "/" in tag else TAG_PREFIX + tag


# ----------------------------------------------------------------------------- scenarios


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@dataclass
class Service:
    """The service of scenarios 1-4 and 8: examples/shop, or a generated stand-in."""

    name: str
    make: Callable[[Path], None]  # writes the context into an empty directory
    source_file: str  # the file changed in scenario 3
    manifest: str  # the dependency manifest changed in scenario 4
    images: dict[str, str]  # NAME -> oci:PATH:TAG, loaded into dockerd and each home

    def context(self, work: Path, name: str) -> Path:
        dest = work / name
        dest.mkdir()
        self.make(dest)
        dockerfile = dest / "Dockerfile"
        lines = dockerfile.read_text().splitlines(keepends=True)
        dockerfile.write_text("".join(ln for ln in lines if not ln.startswith("# syntax=")))
        return dest

    def first_base(self, ctx: Path) -> str:
        """The image of the Dockerfile's first FROM (ARGs are not expanded)."""
        for line in (ctx / "Dockerfile").read_text().splitlines():
            words = line.split()
            if words and words[0].upper() == "FROM":
                return next(w for w in words[1:] if not w.startswith("--"))
        raise SystemExit("bench: no FROM in the service's Dockerfile")

    def change(self, ctx: Path, rel: str, i: int) -> None:
        with (ctx / rel).open("a") as f:
            f.write(f"// change {i}\n" if rel.endswith((".go", ".mod")) else f"extra{i}==0.{i}\n")


STANDIN_DOCKERFILE = f"""\
FROM {BASE} AS build
WORKDIR /src
COPY deps.txt ./
RUN sleep 1 && mkdir -p /deps && for d in $(cat deps.txt); do \\
      mkdir -p /deps/$d && seq 1 200 > /deps/$d/mod.txt; done
COPY . .
RUN sleep 0.5 && mkdir -p /out && cat cmd/app/*.go internal/*/*.go | md5sum > /out/app \\
    && cp -r /deps /out/deps

FROM {BASE}
COPY --from=build /out /app
USER 1000:1000
ENTRYPOINT ["/bin/cat", "/app/app"]
"""


def make_standin(dest: Path) -> None:
    write(dest / "Dockerfile", STANDIN_DOCKERFILE)
    write(dest / ".dockerignore", "Dockerfile\n.dockerignore\n")
    write(dest / "deps.txt", "".join(f"lib{i}==1.{i}.0\n" for i in range(20)))
    write(dest / "cmd" / "app" / "main.go", "package main\n\nfunc main() {}\n")
    for pkg in range(10):
        for f in range(10):
            write(
                dest / "internal" / f"pkg{pkg}" / f"f{f}.go",
                f"package pkg{pkg}\n\nvar V{f} = {pkg * 100 + f}\n",
            )


def standin_service() -> Service:
    return Service(
        name="generated stand-in (busybox, ~1 s dependency step)",
        make=make_standin,
        source_file="cmd/app/main.go",
        manifest="deps.txt",
        images={},
    )


def shop_service() -> Service | None:
    """examples/shop with the base images of scripts/make-base-images, if they can be made."""
    shop = REPO / "examples" / "shop"
    script = REPO / "scripts" / "make-base-images"
    if not (shop / "Dockerfile").is_file() or not script.is_file():
        return None
    log("bench: making the example's base images (scripts/make-base-images)")
    proc = subprocess.run(
        [str(script), "--no-load", "--print-build-contexts"],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if proc.returncode != 0:
        log(f"bench: scripts/make-base-images failed, using the stand-in:\n{proc.stderr[-1500:]}")
        return None
    images: dict[str, str] = {}
    for line in proc.stdout.split():
        name, _, url = line.partition("=")
        images[name] = "oci:" + url.removeprefix("oci-layout://")
    dockerfile = (shop / "Dockerfile").read_text()
    if not all(f"FROM {name}" in dockerfile for name in images if name != "debian:12"):
        log("bench: examples/shop does not use the base images made, using the stand-in")
        return None

    def make(dest: Path) -> None:
        shutil.copytree(shop, dest, dirs_exist_ok=True)

    return Service(
        name="examples/shop",
        make=make,
        source_file="cmd/shop/main.go",
        manifest="go.mod",
        images=images,
    )


PARALLEL_DOCKERFILE = (
    f"""\
FROM {BASE} AS base
RUN echo base > /base.txt
"""
    + "".join(
        f"""
FROM base AS s{i}
RUN sleep 2 && echo {i} > /out{i}.txt
"""
        for i in range(4)
    )
    + f"""
FROM {BASE}
"""
    + "".join(f"COPY --from=s{i} /out{i}.txt /\n" for i in range(4))
)


def monorepo_context(work: Path, services: int) -> Path:
    root = work / "monorepo"
    write(root / "base" / "common.sh", "#!/bin/sh\necho common\n")
    write(root / "base" / "deps.txt", "\n".join(f"lib{i}==1.{i}" for i in range(30)) + "\n")
    for i in range(services):
        svc = root / "services" / f"svc{i:02d}"
        write(svc / "main.sh", f"#!/bin/sh\necho service {i}\n")
        write(svc / "config.txt", f"port={8000 + i}\n")
        write(
            svc / "Dockerfile",
            f"""\
FROM {BASE} AS base
WORKDIR /opt/base
COPY base/ ./
RUN sort deps.txt > deps.lock && chmod +x common.sh

FROM base AS build
WORKDIR /src
COPY services/svc{i:02d}/ ./
RUN mkdir -p /out && cp main.sh config.txt /out/ && cat /opt/base/deps.lock > /out/deps.lock

FROM {BASE}
COPY --from=base /opt/base/common.sh /usr/local/bin/common.sh
COPY --from=build /out /srv/svc{i:02d}
CMD ["/srv/svc{i:02d}/main.sh"]
""",
        )
    return root


def big_context(work: Path, files: int) -> Path:
    root = work / "bigctx"
    per_dir = 100
    for d in range(files // per_dir):
        sub = root / "src" / f"pkg{d:04d}"
        sub.mkdir(parents=True)
        for f in range(per_dir):
            (sub / f"file{f:03d}.go").write_text(f"package pkg{d}\n// file {f}\nvar X{f} = {d}\n")
    write(
        root / "Dockerfile",
        f"""\
FROM {BASE}
WORKDIR /src
COPY . .
RUN find . -type f | wc -l > /count.txt
""",
    )
    return root


Result = dict[str, tuple[list[float], list[float]]]  # scenario -> (dockyard, buildkit)


def sc_shop(t: Tools, svc: Service, reps: int, res: Result, only: set[str]) -> None:
    dy_ctx = svc.context(t.work, "shop-dy")
    bk_ctx = svc.context(t.work, "shop-bk")
    home = t.fresh_home()
    if "1" in only:
        # BuildKit keeps the base images unpacked in dockerd's image store, which
        # `docker builder prune` does not touch; the same for dockyard is a home that has
        # used the base image before (its layers extracted) but holds no build cache.
        seed = t.seed_home(svc.first_base(dy_ctx))
        dy, dy_empty, bk = [], [], []
        for _ in range(reps):
            bk.append(_cold_bk(t, bk_ctx, "shop"))
            dy.append(t.dy(t.copy_home(seed), dy_ctx, "shop"))
            dy_empty.append(t.dy(t.fresh_home(), dy_ctx, "shop"))
        res["1"] = (dy, bk)
        res["1b"] = (dy_empty, bk)
    # a warm cache for the rebuilds
    t.dy(home, dy_ctx, "shop")
    t.bk(bk_ctx, "shop")
    if "2" in only:
        res["2"] = _alternate(
            reps, lambda: t.dy(home, dy_ctx, "shop"), lambda: t.bk(bk_ctx, "shop")
        )
    for key, rel in (("3", svc.source_file), ("4", svc.manifest)):
        if key not in only:
            continue
        dy, bk = [], []
        for i in range(reps):
            for ctx in (dy_ctx, bk_ctx):
                svc.change(ctx, rel, i)
            bk.append(t.bk(bk_ctx, "shop"))
            dy.append(t.dy(home, dy_ctx, "shop"))
        res[key] = (dy, bk)


def _cold_bk(t: Tools, ctx: Path, tag: str, dockerfile: Path | None = None) -> float:
    t.bk_prune()
    return t.bk(ctx, tag, dockerfile)


def _alternate(
    reps: int, dy: Callable[[], float], bk: Callable[[], float]
) -> tuple[list[float], list[float]]:
    a, b = [], []
    for _ in range(reps):
        b.append(bk())
        a.append(dy())
    return a, b


def sc_parallel(t: Tools, reps: int, res: Result) -> None:
    ctx = t.work / "parallel"
    write(ctx / "Dockerfile", PARALLEL_DOCKERFILE)
    dy, dy4, bk = [], [], []
    for _ in range(reps):
        bk.append(_cold_bk(t, ctx, "parallel"))
        dy.append(t.dy(t.fresh_home(), ctx, "parallel"))
        dy4.append(t.dy(t.fresh_home(), ctx, "parallel", None, "--jobs", "4"))
    res["5"] = (dy, bk)
    res["5b"] = (dy4, bk)


def sc_monorepo(t: Tools, reps: int, res: Result, services: int) -> None:
    root = monorepo_context(t.work, services)
    home = t.fresh_home()
    names = [f"svc{i:02d}" for i in range(services)]

    def dockerfile(name: str) -> Path:
        return root / "services" / name / "Dockerfile"

    for name in names:  # warm both caches
        t.bk(root, name, dockerfile(name))
        t.dy(home, root, name, dockerfile(name))

    def all_bk() -> float:
        return sum(t.bk(root, n, dockerfile(n)) for n in names)

    def all_dy() -> float:
        return sum(t.dy(home, root, n, dockerfile(n)) for n in names)

    res["6"] = _alternate(reps, all_dy, all_bk)

    # dockyard's 20 builds in one process: the CLI called 20 times from Python
    script = t.work / "inproc.py"
    calls = [t.dy_args(root, n, dockerfile(n)) for n in names]
    script.write_text(
        "import sys\n"
        "from dockyard.cli import app\n"
        f"for args in {calls!r}:\n"
        "    app.main(args, prog_name='dockyard', standalone_mode=False)\n"
    )
    dy1 = [run([sys.executable, str(script)], env=t.dy_env(home)) for _ in range(reps)]
    res["6b"] = (dy1, res["6"][1])


def sc_bigctx(t: Tools, reps: int, res: Result, files: int) -> None:
    log(f"bench: writing a context of {files} files")
    ctx = big_context(t.work, files)
    home = t.fresh_home()
    cold_dy = t.dy(home, ctx, "bigctx")
    cold_bk = _cold_bk(t, ctx, "bigctx")
    log(f"bench: cold build of the big context: dockyard {cold_dy:.2f} s, BuildKit {cold_bk:.2f} s")
    res["7a"] = _alternate(reps, lambda: t.dy(home, ctx, "bigctx"), lambda: t.bk(ctx, "bigctx"))
    dy, bk = [], []
    target = ctx / "src" / "pkg0007" / "file042.go"
    for i in range(reps):
        with target.open("a") as f:
            f.write(f"// change {i}\n")
        bk.append(t.bk(ctx, "bigctx"))
        dy.append(t.dy(home, ctx, "bigctx"))
    res["7b"] = (dy, bk)


def sc_registry_cache(t: Tools, svc: Service, reps: int, res: Result) -> None:
    help_text = subprocess.run(
        [DOCKYARD, "build", "--help"], capture_output=True, text=True, check=False
    ).stdout
    if "--cache-from" not in help_text:
        res["8"] = ([], [])
        return
    ctx = svc.context(t.work, "shop-cache")
    ref_dy = f"{t.registry}/dybench/shop-cache:buildcache"
    ref_bk = f"{t.registry}/dybench/shop-bk:1"
    seed = t.seed_home(svc.first_base(ctx))  # the base image is local on both "machines"
    # "machine A" fills the registry caches
    t.dy(
        t.copy_home(seed),
        ctx,
        "shop-cache",
        None,
        "--cache-to",
        f"type=registry,ref={ref_dy},mode=max",
        "--insecure-registry",
        t.registry,
    )
    t.bk_prune()
    t.bk(ctx, ref_bk, None, "--build-arg", "BUILDKIT_INLINE_CACHE=1")
    run([DOCKER, "push", ref_bk])
    dy, bk = [], []
    for _ in range(reps):
        # "machine B": nothing local but the base image
        t.bk_prune()
        run([DOCKER, "rmi", "-f", ref_bk])
        bk.append(t.bk(ctx, ref_bk, None, "--cache-from", ref_bk))
        dy.append(
            t.dy(
                t.copy_home(seed),
                ctx,
                "shop-cache",
                None,
                "--cache-from",
                f"type=registry,ref={ref_dy}",
                "--insecure-registry",
                t.registry,
            )
        )
    res["8"] = (dy, bk)


# ----------------------------------------------------------------------------- plumbing


def docker_up() -> bool:
    return subprocess.run([DOCKER, "info"], capture_output=True, check=False).returncode == 0


@contextmanager
def dockerd(work: Path) -> Iterator[None]:
    """Use the running dockerd, or start one for the run (and stop it afterwards)."""
    if docker_up():
        yield
        return
    log("bench: starting dockerd")
    out = (work / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        ["dockerd", "--bridge=none", "--iptables=false"], stdout=out, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not docker_up():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: dockerd did not start, see {work / 'dockerd.log'}")
            time.sleep(0.5)
        yield
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        out.close()


@contextmanager
def base_images(images: dict[str, str]) -> Iterator[None]:
    """The base images in dockerd (NAME -> skopeo source), loaded when missing.

    Those loaded here are removed again at the end."""
    loaded: list[str] = []
    try:
        for name, source in images.items():
            inspect = [DOCKER, "image", "inspect", name]
            if subprocess.run(inspect, capture_output=True, check=False).returncode != 0:
                run(["skopeo", "copy", source, f"docker-daemon:{name}"])
                loaded.append(name)
        yield
    finally:
        if loaded:
            subprocess.run([DOCKER, "rmi", "-f", *loaded], capture_output=True, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def registry(work: Path) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("bench: docker-registry is not installed (scripts/setup installs it)")
    port = free_port()
    root = work / "registry"
    root.mkdir()
    config = work / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    out = (work / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("bench: docker-registry did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        out.close()


def remove_images(registry_host: str) -> None:
    out = subprocess.run(
        [DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    mine = [
        ref
        for ref in out
        if ref.startswith(TAG_PREFIX) or (registry_host and ref.startswith(registry_host + "/"))
    ]
    if mine:
        subprocess.run([DOCKER, "rmi", "-f", *mine], capture_output=True, check=False)


def cleanup_homes(t: Tools) -> None:
    """Unmount anything left under the homes (a failed build), then remove the work dir."""
    for home in t.homes:
        with suppress(OSError):
            mounts = Path("/proc/self/mounts").read_text().splitlines()
            for line in mounts:
                point = line.split()[1]
                if point.startswith(str(home)):
                    subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    shutil.rmtree(t.work, ignore_errors=True)


def report(res: Result, reps: int, meta: dict[str, str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    print(
        f"\ndockyard build vs BuildKit — {meta['date']}, {meta['machine']}, median of {reps}"
        f"\nservice (1-4, 8): {meta['service']}\n"
    )
    print(f"{'#':<3} {'scenario':<40} {'dockyard':>9} {'BuildKit':>9} {'ratio':>6} {'target':>7}")
    for key, (label, target) in TARGETS.items():
        if key not in res:
            continue
        dy, bk = res[key]
        if not dy:
            print(f"{key:<3} {label:<40} {'not implemented yet':>35}")
            rows.append({"scenario": key, "label": label, "status": "not implemented yet"})
            continue
        dy_m, bk_m = statistics.median(dy), statistics.median(bk)
        ratio = dy_m / bk_m
        tgt = f"<={target}" if target is not None else "-"
        verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
        print(f"{key:<3} {label:<40} {dy_m:8.2f}s {bk_m:8.2f}s {ratio:6.2f} {tgt:>7} {verdict}")
        rows.append(
            {
                "scenario": key,
                "label": label,
                "dockyard_s": dy,
                "buildkit_s": bk,
                "dockyard_median": dy_m,
                "buildkit_median": bk_m,
                "ratio": ratio,
                "target": target,
            }
        )
    return rows


def machine() -> str:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return f"{os.cpu_count()} CPUs, {mem_kb / 1024 / 1024:.0f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions, smaller inputs")
    parser.add_argument("--reps", type=int, default=0, help="repetitions (default 5; quick 3)")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. 2,7")
    parser.add_argument("--files", type=int, default=0, help="files in scenario 7 (50000)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--service",
        choices=("auto", "shop", "standin"),
        default="auto",
        help="scenarios 1-4, 8: examples/shop (auto: when its base images can be made)",
    )
    opts = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (sudo): RUN needs overlayfs and runc")
    if not BUSYBOX_OCI.is_dir():
        raise SystemExit(f"bench: shared busybox layout missing: {BUSYBOX_OCI}")
    reps = opts.reps or (3 if opts.quick else 5)
    files = opts.files or (10_000 if opts.quick else 50_000)
    if files != 50_000:
        TARGETS["7a"] = (f"{files:,}-file context, no-op", 0.2)
        TARGETS["7b"] = (f"{files:,}-file context, one file changed", 0.7)
    only = set(opts.only.split(",")) if opts.only else {"1", "2", "3", "4", "5", "6", "7", "8"}
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": machine()}

    svc = None if opts.service == "standin" else shop_service()
    if svc is None:
        if opts.service == "shop":
            raise SystemExit("bench: examples/shop cannot be built here (see above)")
        svc = standin_service()
    meta["service"] = svc.name
    log(f"bench: service for scenarios 1-4 and 8: {svc.name}")

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-build-"))
    images = {BASE: f"oci:{BUSYBOX_OCI}:1", **svc.images}
    tools = Tools(work=work, images=images)
    res: Result = {}
    try:
        with dockerd(work), base_images(images), registry(work) as reg:
            tools.registry = reg
            try:
                # byte-compile dockyard once (untimed), as an installed package would be
                warm = work / "warm"
                write(warm / "Dockerfile", f"FROM {BASE}\nRUN true\n")
                tools.dy(tools.fresh_home(), warm, "warm")
                steps: list[tuple[str, Callable[[], None]]] = [
                    ("1234", lambda: sc_shop(tools, svc, reps, res, only)),
                    ("5", lambda: sc_parallel(tools, reps, res)),
                    ("6", lambda: sc_monorepo(tools, reps, res, 20)),
                    ("7", lambda: sc_bigctx(tools, reps, res, files)),
                    ("8", lambda: sc_registry_cache(tools, svc, reps, res)),
                ]
                for keys, step in steps:
                    if only & set(keys):
                        log(f"bench: scenario {keys}")
                        step()
            finally:
                remove_images(reg)
                tools.bk_prune()
    finally:
        cleanup_homes(tools)
    rows = report(res, reps, meta)
    if opts.json:
        opts.json.write_text(json.dumps({**meta, "reps": reps, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
