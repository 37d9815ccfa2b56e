"""Benchmark: push and pull of a ~500 MB image to a loopback docker-registry, against skopeo.

Usage: .venv/bin/python bench/bench_registry.py [--size-mb 500] [--layers 5] [--rounds 2]
                                                 [--jobs 4]

Generates an OCI layout with several layers of random data (incompressible, like real
gzip layers), starts a docker-registry on loopback, then times in the same run:
  * push: dockyard (RegistrySink) and `skopeo copy oci:DIR:1 docker://...`, each into a
    freshly started, empty registry (so no tool finds the blobs already there);
  * pull: dockyard (open_remote + every blob streamed, verified, to an OCI layout on disk)
    and `skopeo copy docker://... oci:OUT:1`, from the same registry.
Prints the best time of each over the rounds, the throughput and dockyard/skopeo ratios
(below 1.0 means dockyard is faster).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import httpx

from dockyard.image.base import Image
from dockyard.oci import Descriptor, Digest, Manifest, Reference, mediatypes
from dockyard.registry import RegistryClient, RegistrySink, RemoteImage, open_remote


class _LayoutImage(Image):
    """The generated image, read with plain file reads."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self._manifest = manifest

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def open_blob(self, descriptor: Descriptor) -> BinaryIO:
        return (self.root / "blobs" / "sha256" / descriptor.digest.hex).open("rb")


def _put_blob(root: Path, data: bytes) -> Descriptor:
    digest = Digest.of(data)
    (root / "blobs" / "sha256" / digest.hex).write_bytes(data)
    return Descriptor(mediatypes.OCI_LAYER_GZIP, digest, len(data))


def build_layout(root: Path, size_mb: int, layers: int) -> _LayoutImage:
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    per_layer = (size_mb << 20) // layers
    descs = []
    for i in range(layers):
        size = per_layer + i * 4099  # distinct sizes
        # a real gzip stream (stored blocks) of random data: tools pass it through as is
        descs.append(_put_blob(root, gzip.compress(os.urandom(size), compresslevel=0, mtime=0)))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(d.digest) for d in descs]},
        }
    ).encode()
    config_desc = _put_blob(root, config)
    config_desc = Descriptor(mediatypes.OCI_CONFIG, config_desc.digest, config_desc.size)
    manifest = Manifest.build(config_desc, descs)
    (root / "blobs" / "sha256" / manifest.digest.hex).write_bytes(manifest.raw)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                **manifest.descriptor().to_dict(),
                "annotations": {"org.opencontainers.image.ref.name": "1"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return _LayoutImage(root, manifest)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Registry:
    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True)
        port = _free_port()
        self.host = f"127.0.0.1:{port}"
        config = workdir / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'storage'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise SystemExit("docker-registry did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _timed(func: object) -> float:
    start = time.perf_counter()
    func()  # type: ignore[operator]
    return time.perf_counter() - start


def dockyard_push(image: _LayoutImage, host: str, jobs: int) -> None:
    with RegistryClient(jobs=jobs, use_docker_config=False) as client:
        RegistrySink(client, Reference.parse(f"{host}/bench/image:1")).write(image)


def dockyard_pull(host: str, out: Path, jobs: int) -> None:
    (out / "blobs" / "sha256").mkdir(parents=True)
    with RegistryClient(jobs=jobs, use_docker_config=False) as client:
        image = open_remote(client, Reference.parse(f"{host}/bench/image:1"), None)
        assert isinstance(image, RemoteImage)

        def fetch(desc: Descriptor) -> None:
            target = out / "blobs" / "sha256" / desc.digest.hex
            with image.open_blob(desc) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)

        client.map(fetch, image.blobs())
        (out / "blobs" / "sha256" / image.digest.hex).write_bytes(image.manifest.raw)
        (out / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "manifests": [image.manifest.descriptor().to_dict()]})
        )
        (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, stdout=subprocess.DEVNULL)


def _check_pulled(out: Path, image: _LayoutImage) -> None:
    for desc in image.blobs():
        path = out / "blobs" / "sha256" / desc.digest.hex
        with path.open("rb") as stream:
            assert hashlib.file_digest(stream, "sha256").hexdigest() == desc.digest.hex


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("skopeo") is None or shutil.which("docker-registry") is None:
        print("needs skopeo and docker-registry (scripts/setup installs them)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        work = Path(tmp)
        image = build_layout(work / "src", args.size_mb, args.layers)
        total = sum(d.size for d in image.blobs())
        print(f"image: {len(image.layers)} layers, {total / 1e6:.0f} MB, jobs={args.jobs}")
        times: dict[str, list[float]] = {
            k: [] for k in ("dy_push", "sk_push", "dy_pull", "sk_pull")
        }
        for round_no in range(args.rounds):
            for tool in ("dy", "sk"):  # each push into an empty registry
                reg = Registry(work / f"reg-{tool}-{round_no}")
                try:
                    if tool == "dy":
                        times["dy_push"].append(
                            _timed(lambda h=reg.host: dockyard_push(image, h, args.jobs))
                        )
                    else:
                        src = f"oci:{work / 'src'}:1"
                        dst = f"docker://{reg.host}/bench/image:1"
                        times["sk_push"].append(
                            _timed(
                                lambda s=src, d=dst: skopeo("copy", "--dest-tls-verify=false", s, d)
                            )
                        )
                    # both pulls from this registry, alternating who goes first
                    dy_out, sk_out = work / f"dy-{tool}-{round_no}", work / f"sk-{tool}-{round_no}"
                    remote = f"docker://{reg.host}/bench/image:1"
                    pulls = [
                        ("dy_pull", lambda h=reg.host, o=dy_out: dockyard_pull(h, o, args.jobs)),
                        (
                            "sk_pull",
                            lambda r=remote, o=sk_out: skopeo(
                                "copy", "--src-tls-verify=false", r, f"oci:{o}:1"
                            ),
                        ),
                    ]
                    if tool == "sk":
                        pulls.reverse()
                    for name, func in pulls:
                        times[name].append(_timed(func))
                    _check_pulled(dy_out, image)
                    _check_pulled(sk_out, image)
                    shutil.rmtree(dy_out)
                    shutil.rmtree(sk_out)
                finally:
                    reg.stop()
                    shutil.rmtree(work / f"reg-{tool}-{round_no}", ignore_errors=True)
        best = {k: min(v) for k, v in times.items()}
        for op in ("push", "pull"):
            dy, sk = best[f"dy_{op}"], best[f"sk_{op}"]
            print(
                f"{op}: dockyard {dy:6.2f} s ({total / dy / 1e6:6.0f} MB/s)  "
                f"skopeo {sk:6.2f} s ({total / sk / 1e6:6.0f} MB/s)  ratio {dy / sk:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
