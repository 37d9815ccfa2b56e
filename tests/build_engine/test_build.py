"""End-to-end builds with the real executor: cache, explain, errors, outputs, reproducibility."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dockyard.cli import app
from dockyard.store.store import Store
from tests.conftest import Registry

pytestmark = pytest.mark.runc

BASE = "dybase:1"


def build(
    busybox_oci: Path, context: Path, *args: str, env: dict[str, str] | None = None
) -> Result:
    return CliRunner(env=env).invoke(
        app,
        [
            "build",
            "--progress",
            "plain",
            "--network",
            "none",
            "--build-context",
            f"{BASE}=oci-layout://{busybox_oci}:1",
            *args,
            str(context),
        ],
    )


def write(context: Path, dockerfile: str, **files: str) -> Path:
    context.mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        path = context / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return context


GO_SERVICE = f"""FROM {BASE} AS build
WORKDIR /src
COPY go.mod ./
RUN cat go.mod > /deps.txt
COPY main.go ./
RUN cat main.go > /app.txt
FROM {BASE}
COPY --from=build /deps.txt /app.txt /srv/
"""


def test_no_op_rebuild_hits_every_step_and_gives_the_same_image(
    busybox_oci: Path, tmp_path: Path
) -> None:
    ctx = write(
        tmp_path / "ctx", GO_SERVICE, **{"go.mod": "module x\n", "main.go": "package main\n"}
    )
    first = build(busybox_oci, ctx, "--format", "json")
    assert first.exit_code == 0, first.output
    second = build(busybox_oci, ctx, "--format", "json")
    assert second.exit_code == 0, second.output
    meta1 = json.loads(first.stdout)
    meta2 = json.loads(second.stdout)
    assert meta2["dockyard.cache"]["misses"] == 0
    assert meta2["dockyard.cache"]["hits"] == meta1["dockyard.cache"]["misses"]
    assert meta1["containerimage.digest"] == meta2["containerimage.digest"]


def test_source_change_keeps_the_dependency_layer_and_names_the_file(
    busybox_oci: Path, tmp_path: Path
) -> None:
    ctx = write(
        tmp_path / "ctx", GO_SERVICE, **{"go.mod": "module x\n", "main.go": "package main\n"}
    )
    assert build(busybox_oci, ctx).exit_code == 0
    (ctx / "main.go").write_text("package main // changed\n")
    result = build(busybox_oci, ctx, "--explain-cache", "--format", "json")
    assert result.exit_code == 0, result.output
    steps = {s["step"]: s for s in json.loads(result.stdout)["dockyard.cache"]["steps"]}
    assert steps["[build 3/5] RUN cat go.mod > /deps.txt"]["cached"] is True
    copy_main = steps["[build 4/5] COPY main.go ./"]
    assert copy_main["cached"] is False
    assert copy_main["reason"] == "files changed: main.go (changed)"
    assert (
        steps["[build 5/5] RUN cat main.go > /app.txt"]["reason"]
        == "an earlier step of this stage was rebuilt"
    )
    assert "cache MISS: files changed: main.go (changed)" in result.stderr
    copy_from = steps["[stage-1 1/1] COPY --from=build /deps.txt /app.txt /srv/"]
    assert copy_from["reason"].startswith(
        "/deps.txt, /app.txt from a stage or image that changed (sha256:"
    )


def test_same_size_and_mtime_but_new_content_is_never_a_false_hit(
    busybox_oci: Path, tmp_path: Path
) -> None:
    # BuildKit has shipped this bug: a stat-only cache that trusts size+mtime.
    ctx = write(
        tmp_path / "ctx", f"FROM {BASE}\nCOPY data.txt /data.txt\n", **{"data.txt": "AAAA\n"}
    )
    stamp = (ctx / "data.txt").stat()
    out1 = tmp_path / "out1"
    assert build(busybox_oci, ctx, "-o", f"type=local,dest={out1}").exit_code == 0
    (ctx / "data.txt").write_text("BBBB\n")
    os.utime(ctx / "data.txt", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    out2 = tmp_path / "out2"
    result = build(busybox_oci, ctx, "-o", f"type=local,dest={out2}", "--format", "json")
    assert result.exit_code == 0, result.output
    assert (out2 / "data.txt").read_text() == "BBBB\n"
    assert json.loads(result.stdout)["dockyard.cache"]["misses"] == 1


def test_failing_run_reports_command_exit_code_and_output_and_tags_nothing(
    busybox_oci: Path, tmp_path: Path, dockyard_home: Path
) -> None:
    ctx = write(
        tmp_path / "ctx", f"FROM {BASE}\nRUN echo about to fail && echo on stderr >&2 && exit 7\n"
    )
    result = build(busybox_oci, ctx, "-t", "broken:1")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "exit code: 7" in result.stderr or "exit code 7" in result.stderr
    assert "echo about to fail" in result.stderr
    assert "on stderr" in result.stderr
    assert not Store.open(dockyard_home).has("broken:1")


def test_source_date_epoch_gives_identical_digests(busybox_oci: Path, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nRUN echo hi > /hi\nCOPY f /f\n", f="data\n")
    digests = []
    for _ in range(2):
        result = build(
            busybox_oci,
            ctx,
            "--no-cache",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            "--format",
            "json",
        )
        assert result.exit_code == 0, result.output
        digests.append(json.loads(result.stdout)["containerimage.digest"])
        time.sleep(1.1)  # a later wall clock must not change anything
    assert digests[0] == digests[1]


def _all_layer_bytes(oci: Path) -> bytes:
    out = b""
    for blob in (oci / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        out += gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return out


def test_secret_reaches_the_step_but_not_the_image(busybox_oci: Path, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("hunter2-very-secret")
    ctx = write(
        tmp_path / "ctx",
        f"FROM {BASE}\nRUN --mount=type=secret,id=tok,required=true test -s /run/secrets/tok && echo ok > /ok\n",
    )
    oci = tmp_path / "oci"
    result = build(
        busybox_oci, ctx, "--secret", f"id=tok,src={secret}", "-o", f"type=oci,dest={oci},tar=false"
    )
    assert result.exit_code == 0, result.output
    assert b"hunter2" not in _all_layer_bytes(oci)
    missing = build(busybox_oci, ctx, "--no-cache")
    assert missing.exit_code == 1
    assert "secret 'tok' is required" in missing.stderr


def test_a_secret_as_an_environment_variable_reaches_only_its_run(
    busybox_oci: Path, tmp_path: Path
) -> None:
    # Dockerfile 1.10: --mount=type=secret,env=VAR (no file unless a target is given too)
    ctx = write(
        tmp_path / "ctx",
        f"FROM {BASE}\n"
        "RUN --mount=type=secret,id=tok,env=TOKEN,required=true "
        'test "${#TOKEN}" = 7 && test ! -e /run/secrets/tok && echo ok > /ok\n'
        'RUN --mount=type=secret,id=tok,env=T2,target=/s test "$T2" = "$(cat /s)"\n'
        'RUN test -z "$TOKEN"\n',
    )
    oci = tmp_path / "oci"
    result = build(
        busybox_oci,
        ctx,
        "--secret",
        "id=tok,env=DY_TEST_TOKEN",
        "-o",
        f"type=oci,dest={oci},tar=false",
        env={"DY_TEST_TOKEN": "hunter2"},
    )
    assert result.exit_code == 0, result.output
    assert b"hunter2" not in _all_layer_bytes(oci)
    config_and_history = b"".join(p.read_bytes() for p in (oci / "blobs" / "sha256").iterdir())
    assert b"hunter2" not in config_and_history


def test_independent_stages_run_in_parallel(busybox_oci: Path, tmp_path: Path) -> None:
    ctx = write(
        tmp_path / "ctx",
        f"FROM {BASE} AS a\nRUN sleep 1 && echo a > /a\n"
        f"FROM {BASE} AS b\nRUN sleep 1 && echo b > /b\n"
        f"FROM {BASE}\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    )
    result = build(busybox_oci, ctx, "--jobs", "2")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if "RUN sleep 1" in line]
    first_done = next(i for i, line in enumerate(lines) if " DONE " in line)
    assert len(starts) == 2
    assert max(starts) < first_done  # both RUNs started before either finished


def test_outputs_docker_archive_tar_iidfile_metadata_and_store(
    busybox_oci: Path, tmp_path: Path, dockyard_home: Path
) -> None:
    ctx = write(tmp_path / "ctx", f'FROM {BASE}\nCOPY f /f\nCMD ["cat", "/f"]\n', f="hello\n")
    archive = tmp_path / "image.tar"
    rootfs_tar = tmp_path / "rootfs.tar"
    iid = tmp_path / "iid"
    meta = tmp_path / "meta.json"
    result = build(
        busybox_oci,
        ctx,
        "-t", "shop/api:dev",
        "-o", f"type=docker,dest={archive}",
        "-o", f"type=tar,dest={rootfs_tar}",
        "-o", "type=image",
        "--iidfile", str(iid),
        "--metadata-file", str(meta),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    inspected = subprocess.run(
        ["skopeo", "inspect", "--config", f"docker-archive:{archive}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(inspected.stdout)["config"]["Cmd"] == ["cat", "/f"]
    names = subprocess.run(
        ["tar", "-tf", str(rootfs_tar)], capture_output=True, text=True, check=True
    ).stdout
    assert "f" in names.split()
    metadata = json.loads(meta.read_text())
    assert iid.read_text() == metadata["containerimage.config.digest"]
    assert Store.open(dockyard_home).has("shop/api:dev")


@pytest.mark.registry
def test_push_to_registry_output(busybox_oci: Path, tmp_path: Path, registry: Registry) -> None:
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nCOPY f /f\n", f="pushed\n")
    ref = f"{registry.host}/build/pushed:1"
    result = build(busybox_oci, ctx, "-t", ref, "--push", "--format", "json")
    assert result.exit_code == 0, result.output
    digest = json.loads(result.stdout)["containerimage.digest"]
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(inspected.stdout)["Digest"] == digest


def test_dockerfile_from_stdin_without_context(busybox_oci: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "build",
            "--build-context",
            f"{BASE}=oci-layout://{busybox_oci}:1",
            "--progress",
            "quiet",
            "-",
        ],
        input=f"FROM {BASE}\nRUN echo from-stdin > /x\n",
    )
    assert result.exit_code == 0, result.output


def test_copy_outside_context_is_a_clear_error(busybox_oci: Path, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nCOPY ../secret /x\n")
    result = build(busybox_oci, ctx)
    assert result.exit_code == 2
    assert "outside the build context" in result.stderr


def test_unknown_instruction_points_at_the_line(busybox_oci: Path, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nECHO hi\n")
    result = build(busybox_oci, ctx)
    assert result.exit_code == 2
    assert "Dockerfile:2" in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on loopback serving a directory."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Quiet(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_add_url_with_checksum(
    busybox_oci: Path, tmp_path: Path, http_server: tuple[str, Path]
) -> None:
    url, www = http_server
    (www / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    digest = "sha256:" + __import__("hashlib").sha256(b"#!/bin/sh\necho tool\n").hexdigest()
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nADD --checksum={digest} {url}/tool.sh /opt/\n")
    out = tmp_path / "out"
    result = build(busybox_oci, ctx, "-o", f"type=local,dest={out}")
    assert result.exit_code == 0, result.output
    added = out / "opt" / "tool.sh"
    assert added.read_text() == "#!/bin/sh\necho tool\n"
    assert added.stat().st_mode & 0o777 == 0o600
    bad = write(
        tmp_path / "bad", f"FROM {BASE}\nADD --checksum=sha256:{'0' * 64} {url}/tool.sh /opt/\n"
    )
    result = build(busybox_oci, bad)
    assert result.exit_code == 1
    assert "digest mismatch" in result.stderr


def test_named_directory_context_for_copy_and_mount(busybox_oci: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "conf.txt").write_text("from the named context\n")
    ctx = write(
        tmp_path / "ctx",
        f"FROM {BASE}\nCOPY --from=configs conf.txt /etc/app.conf\n"
        "RUN --mount=type=bind,from=configs,target=/mnt/c cat /mnt/c/conf.txt > /copied-by-run\n",
    )
    out = tmp_path / "out"
    result = build(
        busybox_oci, ctx, "--build-context", f"configs={extra}", "-o", f"type=local,dest={out}"
    )
    assert result.exit_code == 0, result.output
    assert (out / "etc" / "app.conf").read_text() == "from the named context\n"
    assert (out / "copied-by-run").read_text() == "from the named context\n"
    assert (out / "etc" / "app.conf").stat().st_uid == 0


def test_from_a_directory_context(busybox_oci: Path, tmp_path: Path) -> None:
    # --build-context rootfs=DIR, FROM rootfs: the directory is the root filesystem
    # (busybox unpacked there, so RUN has a shell), its .dockerignore applied
    rootfs = tmp_path / "rootfs"
    unpacked = tmp_path / "unpacked"
    assert (
        build(
            busybox_oci,
            write(tmp_path / "b", f"FROM {BASE}\n"),
            "-o",
            f"type=local,dest={unpacked}",
        ).exit_code
        == 0
    )
    shutil.copytree(unpacked, rootfs, symlinks=True)
    (rootfs / "etc" / "motd").write_text("hello from a directory\n")
    (rootfs / "secret.key").write_text("never in the image\n")
    (rootfs / ".dockerignore").write_text("secret.key\n.dockerignore\n")
    ctx = write(
        tmp_path / "ctx", "FROM rootfs\nRUN cat /etc/motd > /seen && test ! -e /secret.key\n"
    )
    out = tmp_path / "out"
    args = ("--build-context", f"rootfs={rootfs}", "--format", "json")
    first = build(busybox_oci, ctx, *args, "-o", f"type=local,dest={out}")
    assert first.exit_code == 0, first.output
    assert (out / "seen").read_text() == "hello from a directory\n"
    assert not (out / "secret.key").exists()
    assert (out / "etc" / "motd").stat().st_uid == 0
    again = build(busybox_oci, ctx, *args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["dockyard.cache"]["misses"] == 0
    (rootfs / "etc" / "motd").write_text("changed\n")
    changed = build(busybox_oci, ctx, *args, "--explain-cache")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["dockyard.cache"]["misses"] == 1


@pytest.mark.parametrize(
    ("option", "layer_type", "manifest_type"),
    [
        (
            "compression=zstd",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            "compression=uncompressed",
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            "oci-mediatypes=false",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ],
)
def test_output_compression_and_media_types(
    busybox_oci: Path, tmp_path: Path, option: str, layer_type: str, manifest_type: str
) -> None:
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nCOPY f /f\n", f="x" * 10000)
    oci = tmp_path / "oci"
    result = build(busybox_oci, ctx, "-o", f"type=oci,dest={oci},tar=false,{option}")
    assert result.exit_code == 0, result.output
    index = json.loads((oci / "index.json").read_text())
    manifest = json.loads(
        (oci / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text()
    )
    assert manifest["mediaType"] == manifest_type
    assert {layer["mediaType"] for layer in manifest["layers"]} == {layer_type}
    # skopeo reads what we wrote, so the layers are what the manifest says
    check = subprocess.run(
        ["skopeo", "inspect", f"oci:{oci}"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr


def test_layers_of_a_failed_build_survive_garbage_collection(
    busybox_oci: Path, tmp_path: Path, dockyard_home: Path
) -> None:
    # regression: only successful builds rooted their layers, so `rmi` (gc) collected the
    # finished steps of a failed build and the fix-up rebuild started from scratch
    ctx = write(tmp_path / "ctx", f"FROM {BASE}\nRUN echo a > /a\nRUN exit 1\n")
    assert build(busybox_oci, ctx).exit_code == 1
    Store.open(dockyard_home).gc()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo a > /a\nRUN echo fixed > /b\n")
    result = build(busybox_oci, ctx, "--format", "json")
    assert result.exit_code == 0, result.output
    cache = json.loads(result.stdout)["dockyard.cache"]
    assert cache["hits"] == 1
    assert cache["misses"] == 1


def test_empty_continuation_lines_are_warned_about(busybox_oci: Path, tmp_path: Path) -> None:
    # BuildKit accepts them with a warning (they will become errors); so do we
    ctx = write(tmp_path / "ctx", "FROM scratch\nLABEL a=1 \\\n\n    b=2\n")
    result = build(busybox_oci, ctx)
    assert result.exit_code == 0, result.output
    assert "WARNING: Empty continuation line found in:" in result.output
    assert "Empty continuation lines will become errors in a future release." in result.output


def test_ssh_mount_forwards_an_agent(busybox_oci: Path, tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ctx = write(
        tmp_path / "ctx",
        f"FROM {BASE}\n"
        'RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock\n'
        "RUN --mount=type=ssh,id=deploy,target=/agent,required=true test -S /agent\n",
    )
    out = tmp_path / "out"
    result = build(
        busybox_oci, ctx, "--ssh", f"default={key}", "--ssh", f"deploy={key}",
        "-o", f"type=local,dest={out}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "sock").read_text() == "/run/buildkit/ssh_agent.0\n"
    assert not (out / "agent").exists()  # the mount point stub is not in the layer
    assert not list((tmp_path / "dockyard-home" / "tmp").glob("ssh-*"))  # agents stopped
    missing = build(busybox_oci, ctx, "--ssh", f"default={key}", "--no-cache")
    assert missing.exit_code == 1
    assert "ssh agent 'deploy' is required but was not given" in missing.stderr
