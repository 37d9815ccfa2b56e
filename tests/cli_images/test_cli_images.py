"""The image commands: copy, inspect, pull, push, tag, images, rmi; bad input exits 2."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dockyard.cli import app
from dockyard.image import OCILayout
from dockyard.store import Store
from tests.conftest import Registry
from tests.image._build import image_layout

BUSYBOX = "sha256:143eb2826517c5eaea8dbe784635d39b1ab05968002f130488dcc06df9fd5fa9"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.registry
def test_copy_pull_push_inspect(registry: Registry, busybox_oci: Path, tmp_path: Path) -> None:
    reg = registry.host
    out = ok(
        "copy", "--progress", "plain", "--format", "json",
        f"oci:{busybox_oci}:1", f"docker://{reg}/cli/busybox:1",
    )  # fmt: skip
    assert json.loads(out.stdout)["digest"] == BUSYBOX
    pulled = ok("pull", "--progress", "quiet", f"{reg}/cli/busybox:1")
    assert BUSYBOX in pulled.output
    assert str(Store.open().resolve(f"{reg}/cli/busybox:1").digest) == BUSYBOX
    ok("tag", f"{reg}/cli/busybox:1", f"{reg}/cli/pushed:2")
    ok("push", "--progress", "quiet", f"{reg}/cli/pushed:2")
    ok("push", "--progress", "quiet", f"{reg}/cli/pushed:2", f"{reg}/cli/elsewhere:3")
    seen = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{reg}/cli/elsewhere:3"],
        capture_output=True,
        check=True,
    )
    assert json.loads(seen.stdout)["Digest"] == BUSYBOX
    report = json.loads(ok("inspect", "--format", "json", f"docker://{reg}/cli/busybox:1").stdout)
    assert report["Digest"] == BUSYBOX
    assert report["Architecture"] == "amd64"
    assert report["RepoTags"] == ["1"]
    text = ok("inspect", f"docker://{reg}/cli/busybox:1").output
    assert "Digest:" in text
    assert "Env:" in text
    raw = ok("inspect", "--raw", f"docker://{reg}/cli/busybox:1").stdout
    assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config = json.loads(ok("inspect", "--config", f"oci:{busybox_oci}:1").stdout)
    assert config["architecture"] == "amd64"
    archive = tmp_path / "a.tar"
    ok("copy", "--progress", "quiet", f"docker://{reg}/cli/busybox:1", f"docker-archive:{archive}")
    ok("copy", "--progress", "quiet", f"docker-archive:{archive}", f"oci:{tmp_path / 'o'}:x")
    assert OCILayout.open(tmp_path / "o").tags() == ["x"]


def test_images_tag_rmi(busybox_oci: Path, tmp_path: Path) -> None:
    ok("copy", "--progress", "quiet", f"oci:{busybox_oci}:1", "busybox:1")
    layout, _ = image_layout(tmp_path / "l")
    ok("copy", "--progress", "quiet", f"oci:{layout.root}:t", "example.com/app:v2")
    ok("tag", "busybox:1", "busybox:latest")
    listing = json.loads(ok("images", "--format", "json").stdout)
    assert [(i["repository"], i["tag"]) for i in listing] == [
        ("busybox", "1"),
        ("busybox", "latest"),
        ("example.com/app", "v2"),
    ]
    assert listing[0]["digest"] == BUSYBOX
    assert listing[0]["size"] > 1_000_000
    table = ok("images").output.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE"]
    assert table[1].split()[:3] == ["busybox", "1", BUSYBOX[7:19]]
    ok("rmi", "busybox:1", "busybox")
    assert [i["repository"] for i in json.loads(ok("images", "--format", "json").stdout)] == [
        "example.com/app"
    ]
    store = Store.open()
    assert not (store.home / "blobs" / "sha256" / BUSYBOX[7:]).exists()
    result = run("rmi", "busybox:1")
    assert result.exit_code == 1
    assert "no image busybox:1" in result.output


def _evil_tar(path: Path, name: str, *, kind: bytes = tarfile.REGTYPE, link: str = "") -> Path:
    with tarfile.open(path, "w") as tar:
        data = b"[]"
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        evil = tarfile.TarInfo(name)
        evil.type = kind
        evil.linkname = link
        payload = b"pwned"
        evil.size = len(payload) if kind == tarfile.REGTYPE else 0
        tar.addfile(evil, io.BytesIO(payload) if kind == tarfile.REGTYPE else None)
    return path


def test_bad_input_exits_2(tmp_path: Path, busybox_oci: Path) -> None:
    layout, manifest = image_layout(tmp_path / "l")
    bogus = manifest.raw.replace(b"application/vnd.oci.image.manifest.v1+json", b"text/html")
    from dockyard.oci import Descriptor, Digest

    desc = Descriptor("text/html", Digest.of(bogus), len(bogus))
    layout.put_bytes(bogus, desc)
    layout.add_entry(desc, "wrongtype")
    broken = b'{"schemaVersion": 2, "layers": "nope"}'
    bdesc = Descriptor("application/vnd.oci.image.manifest.v1+json", Digest.of(broken), len(broken))
    layout.put_bytes(broken, bdesc)
    layout.add_entry(bdesc, "malformed")
    (tmp_path / "md5").mkdir()
    (tmp_path / "md5" / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (tmp_path / "md5" / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "md5:" + "a" * 32,
                        "size": 1,
                    }
                ],
            }
        )
    )
    cases = [
        ["copy", "oci:/x", "Upper/Case:1"],
        ["copy", "oci:/x", "docker://has space:1"],
        ["copy", f"oci:{busybox_oci}:1", "docker://Busybox"],
        ["inspect", "BusyBox:1"],
        ["inspect", f"oci:{layout.root}:wrongtype"],
        ["inspect", f"oci:{layout.root}:malformed"],
        ["inspect", f"oci:{tmp_path / 'md5'}"],
        ["inspect", "docker:busybox"],
        ["inspect", f"docker-archive:{_evil_tar(tmp_path / 'a.tar', '../../evil')}"],
        ["inspect", f"docker-archive:{_evil_tar(tmp_path / 'b.tar', '/abs/evil')}"],
        ["inspect", f"docker-archive:{_evil_tar(tmp_path / 'c.tar', 'l', kind=tarfile.SYMTYPE, link='/etc/passwd')}"],
        ["inspect", f"docker-archive:{_evil_tar(tmp_path / 'd.tar', 'h', kind=tarfile.LNKTYPE, link='../../etc/passwd')}"],
        ["inspect", f"oci-archive:{_evil_tar(tmp_path / 'e.tar', 'x/../../evil')}"],
        ["copy", "--all", "--platform", "linux/amd64", f"oci:{busybox_oci}:1", "x:1"],
        ["copy", "--platform", "linux", f"oci:{busybox_oci}:1", "x:1"],
        ["tag", "busybox", "Bad:Tag"],
    ]  # fmt: skip
    for args in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error:"), (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path.parent / "evil").exists()


def test_missing_image_exits_1(tmp_path: Path) -> None:
    result = run("inspect", "oci:" + str(tmp_path / "nothing"))
    assert result.exit_code == 1
    result = run("push", "never/pulled:1")
    assert result.exit_code == 1
    assert "local store" in result.output


@pytest.mark.registry
def test_registry_answering_html_is_a_clear_error(tmp_path: Path) -> None:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!DOCTYPE html><html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        result = run("inspect", f"docker://127.0.0.1:{port}/app:1")
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code in (1, 2), result.output
    assert "HTML" in result.output or "html" in result.output
    assert "Traceback" not in result.output


def test_an_image_id_names_a_local_image(busybox_oci: Path) -> None:
    # regression: `dockyard inspect sha256:...` (the digest `dockyard build` prints) was
    # taken for a repository named "sha256" on Docker Hub
    ok("copy", "--progress", "quiet", f"oci:{busybox_oci}:1", "bb:1")
    by_digest = json.loads(ok("inspect", "--format", "json", BUSYBOX).stdout)
    assert by_digest["Digest"] == BUSYBOX
    assert by_digest["RepoTags"] == ["docker.io/library/bb:1"]
    config = json.loads(ok("inspect", "--raw", BUSYBOX).stdout)["config"]["digest"]
    by_id = json.loads(ok("inspect", "--format", "json", config).stdout)
    assert by_id["Digest"] == BUSYBOX
    missing = run("inspect", "sha256:" + "0" * 64)
    assert missing.exit_code == 1
    assert "no image sha256:000" in missing.output
    refused = run("copy", f"oci:{busybox_oci}:1", BUSYBOX)
    assert refused.exit_code == 2
    assert "an image ID names an image already in the store" in refused.output
