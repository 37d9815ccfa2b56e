"""Run a RunSpec with runc (not detached), stream its output, and always delete the container."""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import posixpath
import resource
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from dockyard.build._scoped import root_path
from dockyard.build.executor.spec import (
    BindMount,
    RunResult,
    RunSpec,
    SecretMount,
    TmpfsMount,
    default_mount_targets,
    hosts_file,
    oci_config,
    resolv_conf,
)
from dockyard.build.executor.users import ResolvedUser, resolve_user
from dockyard.build.snapshot import dockyard_home
from dockyard.errors import BuildError, ExecutorUnavailableError, StepFailedError

__all__ = ["OutputCallback", "check_executor", "find_runc", "run"]

OutputCallback = Callable[[str, str], None]
"""Called with ("stdout" | "stderr", line without its newline), one call at a time."""

_TAIL_LINES = 20
_MAX_LINE = 64 * 1024
_SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def find_runc() -> str | None:
    """The runc binary: ``$DOCKYARD_RUNC``, then PATH, then the usual sbin directories."""
    explicit = os.environ.get("DOCKYARD_RUNC")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    path = os.environ.get("PATH", "") + ":" + ":".join(_SEARCH_PATH)
    return shutil.which("runc", path=path)


@functools.cache
def _probe() -> str:
    runc = find_runc()
    if runc is None:
        raise ExecutorUnavailableError(
            "runc is not installed", hint="install it with `apt-get install runc`"
        )
    if os.geteuid() != 0:
        raise ExecutorUnavailableError(
            "RUN steps need root (runc and overlayfs mounts)",
            hint="run dockyard build as root, e.g. in a privileged CI container",
        )
    try:
        filesystems = Path("/proc/filesystems").read_text()
    except OSError:
        filesystems = ""
    if "overlay" not in filesystems.split():
        raise ExecutorUnavailableError(
            "the kernel has no overlay filesystem",
            hint="load it with `modprobe overlay` (or run on a kernel with overlayfs)",
        )
    return runc


def check_executor() -> str:
    """Check (once per process) that runc, root and overlayfs are there; the runc path."""
    return _probe()


def _read_text(rootfs: Path, path: str) -> str | None:
    try:
        target = root_path(rootfs, path)
        st = os.lstat(target)
        if not stat.S_ISREG(st.st_mode):
            return None
        return target.read_text(errors="replace")
    except OSError:
        return None


def _user_of(spec: RunSpec) -> ResolvedUser:
    parts = spec.user.partition(":")
    if spec.user and not (parts[0].isdigit() and parts[2].isdigit()):
        return resolve_user(
            spec.user, _read_text(spec.rootfs, "/etc/passwd"), _read_text(spec.rootfs, "/etc/group")
        )
    return resolve_user(spec.user, None, None)


class _StubCleaner:
    """Removes mountpoints that runc had to create in the rootfs (BuildKit's MountStubsCleaner).

    Before the run it records every mount target (and each missing parent) that does not
    exist; afterwards those that are still empty directories or empty files are removed
    and their parent's times restored, so they never reach the layer.

    Directories made for the step's own bind, cache and tmpfs mounts (``keep_dirs``) stay,
    as in the BuildKit of docker 20.10, whose images we match: a ``--mount`` target
    directory and its new parents are part of the layer; file stubs never are.
    """

    def __init__(self, rootfs: Path, targets: Iterable[str], keep_dirs: Iterable[str] = ()) -> None:
        self.rootfs = rootfs
        self.paths: list[Path] = []
        kept: set[Path] = set()
        for target in keep_dirs:
            real = root_path(rootfs, target)
            while real != rootfs and not os.path.lexists(real):
                kept.add(real)
                real = real.parent
        for target in targets:
            real = root_path(rootfs, target)
            while real != rootfs:
                if os.path.lexists(real):
                    break
                self.paths.append(real)
                real = real.parent
        self.kept = kept

    def clean(self) -> None:
        for path in self.paths:
            try:
                st = os.lstat(path)
                if stat.S_ISDIR(st.st_mode):
                    if path in self.kept or any(os.scandir(path)):
                        continue
                elif not stat.S_ISREG(st.st_mode) or st.st_size != 0:
                    continue
                parent = os.stat(path.parent)
                if stat.S_ISDIR(st.st_mode):
                    path.rmdir()
                else:
                    path.unlink()
                os.utime(path.parent, ns=(parent.st_atime_ns, parent.st_mtime_ns))
            except OSError:
                continue


def _ensure_cwd(rootfs: Path, cwd: str) -> None:
    target = root_path(rootfs, cwd or "/")
    if not target.exists():
        target.mkdir(mode=0o755, parents=True)


class _Pump:
    """Reads one stream line by line and forwards each line to the callback."""

    def __init__(
        self,
        name: str,
        stream: IO[bytes],
        callback: OutputCallback | None,
        lock: threading.Lock,
        tail: collections.deque[str],
    ) -> None:
        self.thread = threading.Thread(target=self._loop, args=(name, stream), daemon=True)
        self.callback = callback
        self.lock = lock
        self.tail = tail
        self.thread.start()

    def _loop(self, name: str, stream: IO[bytes]) -> None:
        with stream:
            while True:
                raw = stream.readline(_MAX_LINE)
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\n").removesuffix("\r")
                with self.lock:
                    self.tail.append(line)
                    if self.callback is not None:
                        try:
                            self.callback(name, line)
                        except Exception:  # noqa: BLE001 - a broken sink must not hang the run
                            self.callback = None


def _runc(runc: str, state: Path, *args: str) -> None:
    subprocess.run(
        [runc, "--root", str(state), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=60,
    )


def run(spec: RunSpec, on_output: OutputCallback | None = None) -> RunResult:
    """Run ``spec.args`` in a runc container over ``spec.rootfs`` and wait for it.

    Raises :class:`StepFailedError` for a non-zero exit or a timeout (with the last
    lines of output), :class:`ExecutorUnavailableError` when runc, root or overlayfs
    is missing, :class:`BuildError` for a USER that cannot be resolved.
    """
    runc = check_executor()
    if not spec.args:
        raise BuildError("nothing to run: the command is empty")
    user = _user_of(spec)
    _ensure_cwd(spec.rootfs, spec.cwd)
    home = dockyard_home()
    state = home / "runc"
    container_id = "dy-" + os.urandom(10).hex()
    bundle = home / "run" / container_id
    bundle.mkdir(parents=True, mode=0o700)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        return _run_in_bundle(spec, user, runc, state, bundle, container_id, on_output)
    finally:
        shutil.rmtree(bundle, ignore_errors=True)


def _run_in_bundle(
    spec: RunSpec,
    user: ResolvedUser,
    runc: str,
    state: Path,
    bundle: Path,
    container_id: str,
    on_output: OutputCallback | None,
) -> RunResult:
    try:
        host_resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        host_resolv = ""
    (bundle / "resolv.conf").write_text(resolv_conf(host_resolv, spec.network))
    (bundle / "hosts").write_text(hosts_file(spec.hostname))
    for name in ("resolv.conf", "hosts"):
        os.chmod(bundle / name, 0o644)
    binds: list[tuple[str, str, bool]] = [
        (str(bundle / "resolv.conf"), "/etc/resolv.conf", True),
        (str(bundle / "hosts"), "/etc/hosts", True),
    ]
    tmpfs: list[tuple[str, int | None]] = []
    secrets = bundle / "secrets"
    for index, mount in enumerate(spec.mounts):
        if isinstance(mount, BindMount):
            binds.append((str(mount.source), mount.target, mount.readonly))
        elif isinstance(mount, TmpfsMount):
            tmpfs.append((mount.target, mount.size))
        elif isinstance(mount, SecretMount):
            secrets.mkdir(mode=0o700, exist_ok=True)
            path = secrets / str(index)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(mount.data)
            os.chown(path, mount.uid, mount.gid)
            os.chmod(path, mount.mode)
            binds.append((str(path), mount.target, True))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1048576 if hard == resource.RLIM_INFINITY else min(hard, 1048576)
    config = oci_config(spec, user, binds, tmpfs, nofile=nofile)
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    user_dirs = [m.target for m in spec.mounts if isinstance(m, TmpfsMount)] + [
        m.target for m in spec.mounts if isinstance(m, BindMount) and m.source.is_dir()
    ]
    # a file bind target keeps its new parent directories, but not the file stub itself
    user_dirs += [
        posixpath.dirname(m.target)
        for m in spec.mounts
        if isinstance(m, BindMount) and not m.source.is_dir()
    ]
    stubs = _StubCleaner(
        spec.rootfs,
        [*default_mount_targets(), *(b[1] for b in binds), *(t[0] for t in tmpfs)],
        keep_dirs=user_dirs,
    )
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    lock = threading.Lock()
    started = time.monotonic()
    timed_out = False
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(
            [runc, "--root", str(state), "run", "--bundle", str(bundle), container_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=bundle,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        pumps = [
            _Pump("stdout", proc.stdout, on_output, lock, tail),
            _Pump("stderr", proc.stderr, on_output, lock, tail),
        ]
        try:
            code = proc.wait(timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _runc(runc, state, "kill", container_id, "KILL")
            code = proc.wait()
        for pump in pumps:
            pump.thread.join(timeout=10)
    finally:
        if proc is not None and proc.poll() is None:
            _runc(runc, state, "kill", container_id, "KILL")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        _runc(runc, state, "delete", "--force", container_id)
        stubs.clean()
    duration = time.monotonic() - started
    command = " ".join(spec.args)  # as BuildKit prints it
    if timed_out:
        raise StepFailedError(
            f'process "{command}" did not complete successfully: timed out after {spec.timeout}s',
            command=spec.args,
            output_tail=tuple(tail),
        )
    if code != 0:
        raise StepFailedError(
            f'process "{command}" did not complete successfully: exit code: {code}',
            command=spec.args,
            returncode=code,
            output_tail=tuple(tail),
        )
    return RunResult(exit_code=code, duration=duration, user=user)
