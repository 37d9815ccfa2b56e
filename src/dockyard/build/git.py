"""ADD of a git repository: parse BuildKit's git references, resolve the commit, check it out.

``ADD https://host/repo.git#REF:SUBDIR /dest`` (also ``git://``, ``ssh://`` and
``git@host:repo``) copies the tree of one commit, without ``.git`` unless
``--keep-git-dir=true``. The commit is resolved first (``git ls-remote``), so the step's
cache key names the commit, not the moving branch; the checkout is shallow. The ``git``
command does the work, with prompts off: a private repository needs credentials git
already has (an ssh agent, a credential helper).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import BuildError, UsageError

__all__ = ["GitRef", "checkout", "is_git_ref", "parse_git_ref", "resolve"]

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_TIMEOUT = 600


@dataclass(frozen=True, slots=True)
class GitRef:
    """A git source of ADD: the remote, the ref (empty: the remote's HEAD), a subdirectory."""

    remote: str
    ref: str = ""
    subdir: str = ""


def is_git_ref(source: str) -> bool:
    """Whether an ADD source names a git repository (BuildKit's rules)."""
    url = source.partition("#")[0]
    if source.startswith(("git://", "git@", "ssh://")):
        return True
    if source.startswith(("http://", "https://")):
        return url.endswith(".git") or url.removeprefix("https://").startswith("github.com/")
    return False


def parse_git_ref(source: str) -> GitRef:
    """``REMOTE[#REF[:SUBDIR]]``; UsageError when the subdirectory leaves the repository."""
    remote, _, fragment = source.partition("#")
    ref, _, subdir = fragment.partition(":")
    subdir = subdir.strip("/")
    if any(part == ".." for part in subdir.split("/")):
        raise UsageError(f"ADD {source}: the subdirectory {subdir!r} leaves the repository")
    return GitRef(remote, ref, subdir)


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise BuildError("ADD of a git repository needs git", hint="apt-get install git")
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    }
    try:
        return subprocess.run(
            [git, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"git {args[0]} took longer than {_TIMEOUT} s") from exc


def _failed(what: str, proc: subprocess.CompletedProcess[str]) -> BuildError:
    lines = proc.stderr.strip().splitlines()
    return BuildError(f"{what}: {lines[-1] if lines else f'git exited with {proc.returncode}'}")


def resolve(ref: GitRef) -> str:
    """The commit ``ref`` names now (a full commit hash is taken as it is)."""
    if _SHA.fullmatch(ref.ref):
        return ref.ref
    wanted = ref.ref or "HEAD"
    proc = _git("ls-remote", "--", ref.remote, wanted)
    if proc.returncode != 0:
        raise _failed(f"cannot read the git repository {ref.remote}", proc)
    found: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        sha, _, name = line.partition("\t")
        found[name] = sha
    # an annotated tag: the commit it points at ("^{}"), not the tag object
    for name in (
        f"refs/tags/{wanted}^{{}}",
        f"refs/tags/{wanted}",
        f"refs/heads/{wanted}",
        wanted,
        f"{wanted}^{{}}",
    ):
        if name in found:
            return found[name]
    if found:
        return next(iter(found.values()))
    raise BuildError(f"git repository {ref.remote} has no ref {wanted!r}")


def checkout(ref: GitRef, commit: str, dest: Path, *, keep_git_dir: bool) -> Path:
    """Check ``commit`` out into the new directory ``dest``; returns the tree to copy."""
    dest.mkdir(parents=True)
    for args in (("init", "-q"), ("remote", "add", "origin", ref.remote)):
        proc = _git(*args, cwd=dest)
        if proc.returncode != 0:
            raise _failed(f"cannot prepare a checkout of {ref.remote}", proc)
    fetched = _git("fetch", "-q", "--depth", "1", "origin", commit, cwd=dest)
    if fetched.returncode != 0:  # servers that refuse a commit by hash: the ref, then check
        fetched = _git("fetch", "-q", "--depth", "1", "origin", ref.ref or "HEAD", cwd=dest)
        if fetched.returncode != 0:
            raise _failed(f"cannot fetch {ref.remote}#{ref.ref}", fetched)
    proc = _git("-c", "advice.detachedHead=false", "checkout", "-q", commit, cwd=dest)
    if proc.returncode != 0:
        raise _failed(f"cannot check out {commit[:12]} of {ref.remote}", proc)
    if not keep_git_dir:
        shutil.rmtree(dest / ".git")
    tree = dest / ref.subdir if ref.subdir else dest
    if not tree.is_dir():
        raise BuildError(f"{ref.remote}#{ref.ref}: no directory {ref.subdir!r} in the repository")
    return tree
