"""What to run (RunSpec and its mounts) and the OCI runtime config.json made from it (pure)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.build.executor.users import ResolvedUser

__all__ = [
    "DEFAULT_CAPABILITIES",
    "DEFAULT_HOSTNAME",
    "DEFAULT_PATH",
    "BindMount",
    "Mount",
    "NetworkMode",
    "RunResult",
    "RunSpec",
    "SecretMount",
    "TmpfsMount",
    "default_mount_targets",
    "hosts_file",
    "oci_config",
    "resolv_conf",
]

DEFAULT_HOSTNAME = "buildkitsandbox"  # what BuildKit gives RUN steps
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's (and BuildKit's) default capability set.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)


class NetworkMode(enum.Enum):
    """``none``: a new network namespace with only loopback (up); ``host``: the host's.

    ``default`` is ``none`` here: dockyard sets up no bridge or NAT, so a build step has
    no outside network unless it asks for the host's (``--network=host``).
    """

    DEFAULT = "default"
    NONE = "none"
    HOST = "host"


@dataclass(frozen=True, slots=True)
class BindMount:
    """A host path (file or directory) bound at ``target``."""

    source: Path
    target: str
    readonly: bool = True


@dataclass(frozen=True, slots=True)
class TmpfsMount:
    """A fresh tmpfs at ``target``; ``size`` in bytes (None: the kernel's default)."""

    target: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class SecretMount:
    """A secret's bytes as a read-only file at ``target`` (never part of the rootfs)."""

    target: str
    data: bytes
    mode: int = 0o400
    uid: int = 0
    gid: int = 0


Mount = BindMount | TmpfsMount | SecretMount


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One process to run in a container over ``rootfs`` (a mounted snapshot)."""

    rootfs: Path
    args: tuple[str, ...]
    env: tuple[str, ...] = ()  # "K=V"; PATH is added (BuildKit's default) when missing
    cwd: str = "/"  # created (root-owned, 0755) when missing, like BuildKit
    user: str = ""  # USER as written: "name", "uid", "name:group", "uid:gid"
    hostname: str = DEFAULT_HOSTNAME
    network: NetworkMode = NetworkMode.DEFAULT
    mounts: tuple[Mount, ...] = ()
    timeout: float | None = None  # seconds; None: no limit


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a successful run went."""

    exit_code: int
    duration: float  # seconds
    user: ResolvedUser


def default_mount_targets() -> tuple[str, ...]:
    """Where the default mounts go (they may need stub mountpoints in the rootfs)."""
    return tuple(m["destination"] for m in _default_mounts())


def _default_mounts() -> list[dict[str, Any]]:
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ]


def resolv_conf(host_text: str, network: NetworkMode) -> str:
    """The container's /etc/resolv.conf from the host's, like BuildKit.

    With the host network it is the host's file. Otherwise loopback nameservers (which
    would point into the container's own empty namespace) are dropped, and when none
    remain Google's public resolvers are used, as Docker does.
    """
    if network is NetworkMode.HOST:
        return host_text
    lines = []
    servers = 0
    for line in host_text.splitlines():
        fields = line.split()
        if fields[:1] == ["nameserver"] and len(fields) > 1:
            address = fields[1]
            if address.startswith("127.") or address == "::1":
                continue
            servers += 1
        lines.append(line)
    if servers == 0:
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
        lines += ["nameserver 2001:4860:4860::8888", "nameserver 2001:4860:4860::8844"]
    return "\n".join(lines) + "\n"


def hosts_file(hostname: str) -> str:
    """The container's /etc/hosts (BuildKit's default one)."""
    return f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def oci_config(
    spec: RunSpec,
    user: ResolvedUser,
    binds: list[tuple[str, str, bool]],
    tmpfs: list[tuple[str, int | None]],
    *,
    nofile: int = 1024,
) -> dict[str, Any]:
    """The OCI runtime config for ``spec``.

    ``binds`` are (host source, container target, readonly) for every bind the executor
    prepared (resolv.conf, hosts, secrets, the spec's binds), ``tmpfs`` (target, size);
    ``nofile`` is the open-files limit (the executor passes its own hard limit).
    """
    env = list(spec.env)
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    caps = list(DEFAULT_CAPABILITIES)
    mounts = _default_mounts()
    for source, target, readonly in binds:
        mounts.append(
            {
                "destination": target,
                "type": "bind",
                "source": source,
                "options": ["rbind", "ro" if readonly else "rw"],
            }
        )
    for target, size in tmpfs:
        options = ["nosuid", "nodev", "mode=1777"]
        if size is not None:
            options.append(f"size={size}")
        mounts.append(
            {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": options}
        )
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network is not NetworkMode.HOST:
        namespaces.append({"type": "network"})
    process: dict[str, Any] = {
        "terminal": False,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": list(spec.args),
        "env": env,
        "cwd": spec.cwd or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
        "noNewPrivileges": False,
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = list(user.additional_gids)
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": str(spec.rootfs), "readonly": False},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        },
    }
