"""The runc executor: real runc over real overlayfs snapshots of busybox; user resolution."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.build.executor import (
    BindMount,
    NetworkMode,
    ResolvedUser,
    RunSpec,
    SecretMount,
    TmpfsMount,
    oci_config,
    resolve_user,
    run,
)
from dockyard.build.executor.spec import resolv_conf
from dockyard.build.layer import write_layer_from_upper
from dockyard.build.snapshot import Snapshotter
from dockyard.errors import BuildError, StepFailedError

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
# comment
"""
GROUP = """root:x:0:
wheel:x:10:root,app
app:x:1000:
docker:x:999:app
staff:x:50:
"""


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ResolvedUser(0, 0)),
        ("root", ResolvedUser(0, 0, (10,), "/root")),
        ("app", ResolvedUser(1000, 1000, (10, 999), "/home/app")),
        ("1000", ResolvedUser(1000, 1000, (10, 999), "/home/app")),
        ("app:staff", ResolvedUser(1000, 50, (), "/home/app")),
        ("app:50", ResolvedUser(1000, 50, (), "/home/app")),
        ("1000:1000", ResolvedUser(1000, 1000)),
        ("4242", ResolvedUser(4242, 0)),
        ("4242:7", ResolvedUser(4242, 7)),
        ("daemon:docker", ResolvedUser(1, 999, (), "/usr/sbin")),
    ],
)
def test_resolve_user(spec: str, expected: ResolvedUser) -> None:
    assert resolve_user(spec, PASSWD, GROUP) == expected


def test_resolve_user_errors() -> None:
    with pytest.raises(BuildError, match="unable to find user nobody"):
        resolve_user("nobody", PASSWD, GROUP)
    with pytest.raises(BuildError, match="unable to find group nogroup"):
        resolve_user("app:nogroup", PASSWD, GROUP)
    with pytest.raises(BuildError, match="unable to find user app"):
        resolve_user("app", None, None)
    assert resolve_user("5:6", None, None) == ResolvedUser(5, 6)


def test_oci_config_defaults(tmp_path: Path) -> None:
    spec = RunSpec(rootfs=tmp_path, args=("true",), env=("A=1",))
    config = oci_config(spec, ResolvedUser(1, 2, (3,)), [("/h", "/etc/hosts", True)], [])
    assert config["process"]["env"][0].startswith("PATH=")
    assert config["process"]["user"] == {"uid": 1, "gid": 2, "additionalGids": [3]}
    destinations = [m["destination"] for m in config["mounts"]]
    assert destinations[:6] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]
    assert "/run" not in destinations  # BuildKit keeps /run writable into the image
    assert {"type": "network"} in config["linux"]["namespaces"]
    assert "/proc/kcore" in config["linux"]["maskedPaths"]
    assert "CAP_SYS_ADMIN" not in config["process"]["capabilities"]["bounding"]
    host = oci_config(
        RunSpec(rootfs=tmp_path, args=("true",), network=NetworkMode.HOST),
        ResolvedUser(0, 0),
        [],
        [],
    )
    assert {"type": "network"} not in host["linux"]["namespaces"]
    json.dumps(config)


def test_resolv_conf_drops_loopback_servers() -> None:
    host = "search example.com\nnameserver 127.0.0.53\n"
    text = resolv_conf(host, NetworkMode.NONE)
    assert "127.0.0.53" not in text
    assert "nameserver 8.8.8.8" in text
    assert "search example.com" in text
    assert resolv_conf(host, NetworkMode.HOST) == host


def _layer_names(snap_upper: Path, lowers: list[Path], out: Path) -> list[str]:
    blob = write_layer_from_upper(snap_upper, lowers, out)
    with tarfile.open(blob.path) as tar:
        return tar.getnames()


@pytest.mark.runc
def test_run_changes_become_a_layer_without_mount_stubs(
    busybox_lower: Path, tmp_path: Path
) -> None:
    lines: list[tuple[str, str]] = []
    with Snapshotter().mount([busybox_lower]) as snap:
        result = run(
            RunSpec(
                rootfs=snap.merged,
                args=("sh", "-c", "echo hi > /x; rm /bin/ls; mkdir /d; echo out; echo err >&2"),
            ),
            on_output=lambda stream, line: lines.append((stream, line)),
        )
        names = _layer_names(snap.upper, [busybox_lower], tmp_path / "out")
    assert result.exit_code == 0
    assert ("stdout", "out") in lines
    assert ("stderr", "err") in lines
    assert names == ["bin", "bin/.wh.ls", "d", "x"]


@pytest.mark.runc
def test_network_none_has_only_loopback(busybox_lower: Path) -> None:
    lines: list[str] = []
    with Snapshotter().mount([busybox_lower]) as snap:
        run(
            RunSpec(
                rootfs=snap.merged, args=("sh", "-c", "ls /sys/class/net; hostname; cat /etc/hosts")
            ),
            on_output=lambda _s, line: lines.append(line),
        )
    assert lines[0] == "lo"
    assert "buildkitsandbox" in lines
    assert "127.0.0.1\tlocalhost buildkitsandbox" in lines


@pytest.mark.runc
def test_host_network_sees_host_interfaces(busybox_lower: Path) -> None:
    lines: list[str] = []
    with Snapshotter().mount([busybox_lower]) as snap:
        run(
            RunSpec(rootfs=snap.merged, args=("ls", "/sys/class/net"), network=NetworkMode.HOST),
            on_output=lambda _s, line: lines.append(line),
        )
    assert sorted(lines) == sorted(os.listdir("/sys/class/net"))


@pytest.mark.runc
def test_user_resolution_in_the_container(busybox_lower: Path) -> None:
    lines: list[str] = []
    with Snapshotter().mount([busybox_lower]) as snap:
        etc = snap.merged / "etc"
        (etc / "passwd").write_text(
            (etc / "passwd").read_text() + "app:x:1000:1000::/home/app:/bin/sh\n"
        )
        (etc / "group").write_text((etc / "group").read_text() + "app:x:1000:\nextra:x:2000:app\n")
        result = run(
            RunSpec(rootfs=snap.merged, args=("id",), user="app", cwd="/work/dir"),
            on_output=lambda _s, line: lines.append(line),
        )
        assert (snap.merged / "work" / "dir").is_dir()
    assert result.user == ResolvedUser(1000, 1000, (2000,), "/home/app")
    assert lines == ["uid=1000(app) gid=1000(app) groups=2000(extra)"]


@pytest.mark.runc
def test_failing_command_raises_step_failed(busybox_lower: Path) -> None:
    with Snapshotter().mount([busybox_lower]) as snap, pytest.raises(StepFailedError) as info:
        run(RunSpec(rootfs=snap.merged, args=("sh", "-c", "echo before; exit 3")))
    assert info.value.returncode == 3
    assert info.value.command == ("sh", "-c", "echo before; exit 3")
    assert info.value.output_tail == ("before",)
    assert "exit code: 3" in str(info.value)


@pytest.mark.runc
def test_timeout_kills_the_container(busybox_lower: Path, dockyard_home: Path) -> None:
    with (
        Snapshotter().mount([busybox_lower]) as snap,
        pytest.raises(StepFailedError, match="timed out"),
    ):
        run(RunSpec(rootfs=snap.merged, args=("sleep", "30"), timeout=1))
    assert list((dockyard_home / "runc").iterdir()) == []  # the container was deleted
    assert list((dockyard_home / "run").iterdir()) == []


@pytest.mark.runc
def test_mounts_do_not_leak_into_the_layer(busybox_lower: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in").write_text("from host\n")
    lines: list[str] = []
    with Snapshotter().mount([busybox_lower]) as snap:
        run(
            RunSpec(
                rootfs=snap.merged,
                args=(
                    "sh",
                    "-c",
                    (
                        "cat /run/secrets/token /mnt/cache/in; echo w > /mnt/cache/out; "
                        "echo t > /scratch/t; cp /run/secrets/token /copied"
                    ),
                ),
                mounts=(
                    SecretMount("/run/secrets/token", b"s3cret\n"),
                    BindMount(shared, "/mnt/cache", readonly=False),
                    TmpfsMount("/scratch"),
                ),
            ),
            on_output=lambda _s, line: lines.append(line),
        )
        names = _layer_names(snap.upper, [busybox_lower], tmp_path / "out")
        upper_files = {str(p.relative_to(snap.upper)) for p in snap.upper.rglob("*")}
    assert lines == ["s3cret", "from host"]
    assert (shared / "out").read_text() == "w\n"
    # No /run, /proc, /dev, /sys or /etc stubs and nothing of the secret; the directories
    # made for the step's own bind and tmpfs mounts stay, as docker 20.10's BuildKit keeps
    # them (the shared cache-mount build case records that).
    assert names == ["copied", "mnt", "mnt/cache", "scratch"]
    assert not any("secrets" in name for name in upper_files)


@pytest.mark.runc
def test_missing_executable_is_a_step_failure(busybox_lower: Path) -> None:
    with Snapshotter().mount([busybox_lower]) as snap, pytest.raises(StepFailedError):
        run(RunSpec(rootfs=snap.merged, args=("/no/such/binary",)))


@pytest.mark.runc
def test_unknown_user_is_a_build_error(busybox_lower: Path) -> None:
    with (
        Snapshotter().mount([busybox_lower]) as snap,
        pytest.raises(BuildError, match="unable to find user"),
    ):
        run(RunSpec(rootfs=snap.merged, args=("true",), user="ghost"))


def test_missing_runc_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dockyard.build.executor import runc as runc_module
    from dockyard.errors import ExecutorUnavailableError

    monkeypatch.setenv("DOCKYARD_RUNC", str(tmp_path / "no-runc"))
    runc_module._probe.cache_clear()
    try:
        with pytest.raises(ExecutorUnavailableError, match="apt-get install runc"):
            run(RunSpec(rootfs=tmp_path, args=("true",)))
    finally:
        runc_module._probe.cache_clear()
