"""hadolint's rules, with hadolint's ids, levels and meaning (commands come from the sh parser)."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator

from dockyard.lint.model import (
    Edit,
    FromImage,
    Instruction,
    LintInput,
    Severity,
    cache_mount_targets,
    is_non_posix_shell,
)
from dockyard.lint.registry import Hit, rule
from dockyard.lint.shell import Command, ParsedShell

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def _runs(ctx: LintInput, *, onbuild: bool = False) -> Iterator[tuple[Instruction, ParsedShell]]:
    for inst in ctx.instructions:
        if inst.keyword == "RUN" and (onbuild or not inst.onbuild):
            shell = ctx.shell(inst)
            if shell is not None:
                yield inst, shell


def _strip_quotes(text: str) -> str:
    return text.strip("\"'")


# ------------------------------------------------------------------------ instructions


@rule("DL3000", E, "Use absolute WORKDIR", "Give WORKDIR an absolute path such as /app.")
def dl3000(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.instructions:
        if inst.keyword == "WORKDIR" and not inst.onbuild:
            loc = _strip_quotes(" ".join(inst.args))
            if not (loc.startswith(("$", "/")) or re.match(r"^[A-Za-z]:[\\/]", loc)):
                yield Hit(inst.line)


def _is_root(user: str) -> bool:
    return user in ("root", "0") or user.startswith(("root:", "0:"))


@rule(
    "DL3002",
    W,
    "Last USER should not be root.",
    "Switch to an unprivileged user (USER app) after the steps that need root.",
)
def dl3002(ctx: LintInput) -> Iterator[Hit]:
    last_root: dict[int, int] = {}
    stage_line: int | None = None
    for inst in ctx.instructions:
        if inst.onbuild:
            continue
        if inst.keyword == "FROM":
            stage_line = inst.line
        elif inst.keyword == "USER" and stage_line is not None:
            if _is_root(" ".join(inst.args)):
                last_root[stage_line] = inst.line
            else:
                last_root.pop(stage_line, None)
    for line in sorted(last_root.values()):
        yield Hit(line)


@rule(
    "DL3003", W, "Use WORKDIR to switch to a directory.", "Replace `cd dir && ...` by WORKDIR dir."
)
def dl3003(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx):
        if shell.using("cd"):
            yield Hit(inst.line)


@rule(
    "DL3004",
    E,
    "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to enforce root",
    "RUN already runs as root unless USER changed it; drop sudo or use gosu.",
)
def dl3004(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx, onbuild=True):
        if shell.using("sudo"):
            yield Hit(inst.line)


@rule(
    "DL3006",
    W,
    "Always tag the version of an image explicitly",
    "Pin the base image: FROM image:1.2.3 (or @sha256:...).",
)
def dl3006(ctx: LintInput) -> Iterator[Hit]:
    aliases: set[str] = set()
    for stage in ctx.stages:
        ref = stage.from_
        untagged = ref.image != "scratch" and ref.digest is None and ref.tag is None
        if untagged and ref.image not in aliases and "$" not in ref.image:
            yield Hit(stage.line)
        if ref.alias:
            aliases.add(ref.alias)


@rule(
    "DL3007",
    W,
    "Using latest is prone to errors if the image will ever update. Pin the version explicitly "
    "to a release tag",
    "Replace :latest by a release tag.",
)
def dl3007(ctx: LintInput) -> Iterator[Hit]:
    for stage in ctx.stages:
        if stage.from_.tag == "latest":
            yield Hit(stage.line)


# ------------------------------------------------------------------------ package managers


def _apt_get_packages(shell: ParsedShell) -> list[str]:
    out: list[str] = []
    for cmd in shell.commands:
        if cmd.has_args("apt-get", "install"):
            out.extend(
                arg
                for arg in cmd.args_no_flags(drop_values_of=("t", "target-release"))
                if arg != "install"
            )
    return out


@rule(
    "DL3008",
    W,
    "Pin versions in apt get install. Instead of `apt-get install <package>` use `apt-get "
    "install <package>=<version>`",
    "Pin each package: apt-get install curl=7.88.1-10+deb12u5.",
)
def dl3008(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx, onbuild=True):
        for package in _apt_get_packages(shell):
            if not ("=" in package or "/" in package or package.endswith(".deb")):
                yield Hit(inst.line)
                break


def _has_cache_dir(inst: Instruction, prefix: str) -> bool:
    return any(target.startswith(prefix) for target in cache_mount_targets(inst))


@rule(
    "DL3009",
    INFO,
    "Delete the apt-get lists after installing something.",
    "End the RUN with `&& rm -rf /var/lib/apt/lists/*`, or mount /var/lib/apt/lists as a cache.",
    fixable=True,
)
def dl3009(ctx: LintInput) -> Iterator[Hit]:
    from_images = {stage.from_.image for stage in ctx.stages}
    last: FromImage | None = ctx.stages[-1].from_ if ctx.stages else None
    for inst, shell in _runs(ctx):
        has_update = any(cmd.has_args("apt-get", "update") for cmd in shell.commands)
        cleaned = any(cmd.has_args("rm", "-rf", "/var/lib/apt/lists/*") for cmd in shell.commands)
        if not has_update or cleaned:
            continue
        if _has_cache_dir(inst, "/var/lib/apt/lists") or (
            _has_cache_dir(inst, "/var/lib/apt") and _has_cache_dir(inst, "/var/cache/apt")
        ):
            continue
        stage_from = ctx.stages[inst.stage].from_ if inst.stage >= 0 else None
        if stage_from is None:
            fails = last is None
        else:
            fails = stage_from == last or (
                stage_from.alias is not None and stage_from.alias in from_images
            )
        if fails:
            yield Hit(inst.line, edits=_append_apt_cleanup(ctx, inst, shell))


def _append_apt_cleanup(ctx: LintInput, inst: Instruction, shell: ParsedShell) -> tuple[Edit, ...]:
    """Append ``&& rm -rf /var/lib/apt/lists/*`` to a shell-form RUN, keeping its layout."""
    if inst.json or inst.heredocs or inst.onbuild or not shell.ok:
        return ()
    lines = ctx.lines[inst.line - 1 : inst.end_line]
    last = lines[-1].rstrip("\r\n")
    if last.rstrip().endswith(("&", "|", ";", "\\")) or "#" in last:
        return ()
    if len(lines) > 1:
        indent = re.match(r"[ \t]*", lines[-1]).group(0) or "    "  # type: ignore[union-attr]
        new = (last + " \\", f"{indent}&& rm -rf /var/lib/apt/lists/*")
    else:
        new = (last + " \\", "    && rm -rf /var/lib/apt/lists/*")
    return (Edit(inst.end_line, inst.end_line, new),)


_PIP_DROP = (
    "abi",
    "b",
    "build",
    "e",
    "editable",
    "extra-index-url",
    "f",
    "find-links",
    "i",
    "index-url",
    "implementation",
    "no-binary",
    "only-binary",
    "platform",
    "prefix",
    "progress-bar",
    "proxy",
    "python-version",
    "root",
    "src",
    "t",
    "target",
    "trusted-host",
    "upgrade-strategy",
)
_VCS = (
    "git+file",
    "git+https",
    "git+ssh",
    "git+http",
    "git+git",
    "git",
    "hg+file",
    "hg+http",
    "hg+https",
    "hg+ssh",
    "hg+static-http",
    "svn",
    "svn+svn",
    "svn+http",
    "svn+https",
    "svn+ssh",
    "bzr+http",
    "bzr+https",
    "bzr+ssh",
    "bzr+sftp",
    "bzr+ftp",
    "bzr+lp",
)


def _contains_run(seq: tuple[str, ...], sub: tuple[str, ...]) -> bool:
    n = len(sub)
    return any(seq[i : i + n] == sub for i in range(len(seq) - n + 1))


def is_pip_install(cmd: Command) -> bool:
    argv = cmd.argv
    if cmd.name.startswith("pip") and "install" in argv:
        return True
    return cmd.name.startswith("python") and _contains_run(argv, ("-m", "pip", "install"))


def _strip_install_prefix(args: tuple[str, ...]) -> list[str]:
    items = list(args)
    while items and items[0] != "install":
        items.pop(0)
    while items and items[0] == "install":
        items.pop(0)
    return items


def _pip_version_fixed(package: str) -> bool:
    is_vcs = package.startswith(_VCS)
    if any(sym in package for sym in ("==", ">=", "<=", ">", "<", "!=", "~=", "===")):
        return True
    if is_vcs and "@" in package:
        return True
    if package.endswith((".whl", ".tar.gz")):
        return True
    return not is_vcs and "/" in package


@rule(
    "DL3013",
    W,
    "Pin versions in pip. Instead of `pip install <package>` use `pip install "
    "<package>==<version>` or `pip install --requirement <requirements file>`.",
    "Pin each package (flask==3.0.3) or install from a requirements file.",
)
def dl3013(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx, onbuild=True):
        for cmd in shell.commands:
            if not is_pip_install(cmd) or cmd.has_flag("constraint", "c"):
                continue
            argv = cmd.argv
            if "--requirement" in argv or "-r" in argv or "." in argv:
                continue
            packages = _strip_install_prefix(cmd.args_no_flags(drop_values_of=_PIP_DROP))
            if not all(_pip_version_fixed(pkg) for pkg in packages):
                yield Hit(inst.line)
                break


@rule(
    "DL3015",
    INFO,
    "Avoid additional packages by specifying `--no-install-recommends`",
    "Add --no-install-recommends to apt-get install.",
)
def dl3015(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx, onbuild=True):
        for cmd in shell.commands:
            if cmd.has_args("apt-get", "install") and not (
                cmd.has_flag("no-install-recommends")
                or cmd.has_arg("APT::Install-Recommends=false")
            ):
                yield Hit(inst.line)
                break


def _npm_version_fixed(package: str) -> bool:
    if package.startswith(("git://", "git+ssh://", "git+http://", "git+https://")):
        return "#" in package
    if package.endswith((".tar", ".tar.gz", ".tgz")):
        return True
    if package.startswith(("/", "./", "../", "~/")):
        return True
    if package.startswith("@"):
        index = 0
        while index < len(package) and package[index] > "/":
            index += 1
        package = package[index:]
    return "@" in package


@rule(
    "DL3016",
    W,
    "Pin versions in npm. Instead of `npm install <package>` use `npm install <package>@<version>`",
    "Pin each package: npm install express@4.19.2.",
)
def dl3016(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx, onbuild=True):
        for cmd in shell.commands:
            if not cmd.has_args("npm", "install"):
                continue
            rest = cmd.args_no_flags()
            if not rest or rest[0] != "install":
                continue
            if not all(_npm_version_fixed(pkg) for pkg in _strip_install_prefix(rest)):
                yield Hit(inst.line)
                break


@rule(
    "DL3018",
    W,
    "Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`",
    "Pin each package: apk add curl=8.5.0-r0.",
)
def dl3018(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx, onbuild=True):
        for cmd in shell.commands:
            if not cmd.has_args("apk", "add"):
                continue
            packages = [
                arg
                for arg in cmd.args_no_flags(drop_values_of=("t", "virtual", "repository", "X"))
                if arg != "add"
            ]
            if not all(("=" in p or "~" in p or p.endswith(".apk")) for p in packages):
                yield Hit(inst.line)
                break


@rule(
    "DL3019",
    INFO,
    "Use the `--no-cache` switch to avoid the need to use `--update` and remove "
    "`/var/cache/apk/*` when done installing packages",
    "Use `apk add --no-cache ...`.",
    fixable=True,
)
def dl3019(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx, onbuild=True):
        bad = [
            cmd
            for cmd in shell.commands
            if cmd.has_args("apk", "add") and not cmd.has_flag("no-cache")
        ]
        if bad:
            yield Hit(inst.line, edits=_apk_no_cache_edits(ctx, inst, len(bad)))


_APK_ADD = re.compile(r"(\bapk(?:[ \t]+-{1,2}[\w-]+)*[ \t]+add)\b")


def _apk_no_cache_edits(ctx: LintInput, inst: Instruction, count: int) -> tuple[Edit, ...]:
    if inst.json or inst.heredocs or inst.onbuild:
        return ()
    lines = ctx.lines[inst.line - 1 : inst.end_line]
    found = sum(len(_APK_ADD.findall(line)) for line in lines)
    if found != count:
        return ()
    new = tuple(_APK_ADD.sub(r"\1 --no-cache", line.rstrip("\r\n")) for line in lines)
    return (Edit(inst.line, inst.end_line, new),)


_ARCHIVES = (
    ".tar",
    ".gz",
    ".bz2",
    ".xz",
    ".zip",
    ".tgz",
    ".tb2",
    ".tbz",
    ".tbz2",
    ".lz",
    ".lzma",
    ".tlz",
    ".txz",
    ".Z",
    ".tZ",
)


@rule(
    "DL3020",
    E,
    "Use COPY instead of ADD for files and folders",
    "ADD only for URLs and archives to unpack; COPY for the rest.",
)
def dl3020(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.instructions:
        if inst.keyword != "ADD" or inst.onbuild or inst.heredocs:
            continue
        sources = inst.args[:-1]
        if not all(
            src.endswith(_ARCHIVES) or src.startswith(("https://", "http://")) for src in sources
        ):
            yield Hit(inst.line)


@rule(
    "DL3022",
    W,
    "COPY --from should reference a previously defined FROM alias",
    "Name the stage (FROM ... AS build) and copy --from=build.",
)
def dl3022(ctx: LintInput) -> Iterator[Hit]:
    aliases: set[str] = set()
    for inst in ctx.instructions:
        if inst.onbuild:
            continue
        if inst.keyword == "FROM":
            aliases.add(str(inst.stage))
            alias = ctx.stages[inst.stage].from_.alias
            if alias:
                aliases.add(alias)
        elif inst.keyword == "COPY":
            source = inst.flag("from")
            if source is not None and source not in aliases and ":" not in source:
                yield Hit(inst.line)


@rule(
    "DL3025",
    W,
    "Use arguments JSON notation for CMD and ENTRYPOINT arguments",
    'Write CMD ["executable", "arg"] so signals reach the process.',
    fixable=True,
)
def dl3025(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.instructions:
        if inst.keyword in ("CMD", "ENTRYPOINT") and not inst.json and not inst.onbuild:
            yield Hit(inst.line, edits=_json_form_edit(ctx, inst))


_SHELL_SPECIAL = re.compile(r"[$`|&;<>(){}*?\[\]~#!\\]")


def _json_form_edit(ctx: LintInput, inst: Instruction) -> tuple[Edit, ...]:
    """Rewrite a shell-form CMD/ENTRYPOINT as JSON when it is plain words (no shell features)."""
    text = " ".join(inst.args)
    if not text.strip() or _SHELL_SPECIAL.search(text):
        return ()
    shell = ctx.shell(inst)
    if shell is None or not shell.ok or len(shell.commands) != 1:
        return ()
    cmd = shell.commands[0]
    words = [cmd.name_word, *cmd.args]
    if cmd.assignments or not all(word.literal for word in words):
        return ()
    lines = ctx.lines[inst.line - 1 : inst.end_line]
    if any(line.lstrip().startswith("#") for line in lines[1:]):
        return ()
    first = lines[0]
    keyword = re.match(r"[ \t]*\S+", first)
    if keyword is None:
        return ()
    values = json.dumps([word.value for word in words], ensure_ascii=False)
    return (Edit(inst.line, inst.end_line, (f"{keyword.group(0)} {values}",)),)


@rule(
    "DL3026",
    E,
    "Use only an allowed registry in the FROM image",
    "Pull base images from a registry listed in trustedRegistries.",
)
def dl3026(ctx: LintInput) -> Iterator[Hit]:
    if not ctx.trusted_registries:
        return
    aliases: set[str] = set()
    for stage in ctx.stages:
        ref = stage.from_
        if ref.image != "scratch" and ref.image not in aliases:
            registry = ref.registry or "docker.io"
            allowed = any(
                fnmatch.fnmatchcase(registry, pattern)
                or (registry == "docker.io" and pattern in ("docker.io", "hub.docker.com"))
                for pattern in ctx.trusted_registries
            )
            if not allowed:
                yield Hit(stage.line)
        if ref.alias:
            aliases.add(ref.alias)


@rule(
    "DL3027",
    W,
    "Do not use apt as it is meant to be a end-user tool, use apt-get or apt-cache instead",
    "Use apt-get (scripts) instead of apt (interactive).",
)
def dl3027(ctx: LintInput) -> Iterator[Hit]:
    for inst, shell in _runs(ctx):
        if shell.using("apt"):
            yield Hit(inst.line)


_TRUTHY = frozenset(("1", "true", "True", "TRUE", "on", "On", "ON", "yes", "Yes", "YES"))


def _env_pairs(inst: Instruction) -> list[tuple[str, str]]:
    args = inst.args
    return [(args[i], args[i + 1]) for i in range(0, len(args) - 2, 3)]


def _pip_wrapper(cmd: Command) -> bool:
    for wrapper in ("pipx", "pipenv"):
        if wrapper in cmd.name:
            return True
        if cmd.name.startswith("python") and _contains_run(cmd.argv, ("-m", wrapper)):
            return True
    return False


@rule(
    "DL3042",
    W,
    "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`.",
    "Add --no-cache-dir, set ENV PIP_NO_CACHE_DIR=1, or use a cache mount.",
)
def dl3042(ctx: LintInput) -> Iterator[Hit]:
    no_cache: dict[str, bool] = {}
    current: str | None = None
    for inst in ctx.instructions:
        if inst.keyword == "FROM" and not inst.onbuild:
            ref = ctx.stages[inst.stage].from_
            name = ref.alias or ref.image
            no_cache[name] = no_cache.get(ref.image, False)
            current = name
        elif inst.keyword == "ENV" and not inst.onbuild:
            pairs = dict(_env_pairs(inst))
            if "PIP_NO_CACHE_DIR" in pairs and pairs["PIP_NO_CACHE_DIR"] in _TRUTHY:
                no_cache[current or ""] = True
        elif inst.keyword == "RUN":
            if no_cache.get(current or "", False):
                continue
            if any(t.rstrip("/").endswith(".cache/pip") for t in cache_mount_targets(inst)):
                continue
            shell = ctx.shell(inst)
            if shell is None:
                continue
            text = shell.source
            at = text.find("PIP_NO_CACHE_DIR=")
            if at >= 0:
                value = text[at:].split("=", 1)[1]
                if any(value.startswith(t) for t in _TRUTHY):
                    continue
            if any(
                is_pip_install(cmd) and "--no-cache-dir" not in cmd.argv and not _pip_wrapper(cmd)
                for cmd in shell.commands
            ):
                yield Hit(inst.line)


@rule(
    "DL3045",
    W,
    "`COPY` to a relative destination without `WORKDIR` set.",
    "Set WORKDIR first, or copy to an absolute path.",
)
def dl3045(ctx: LintInput) -> Iterator[Hit]:
    workdir: dict[str, bool] = {}
    current: str | None = None
    for inst in ctx.instructions:
        if inst.onbuild:
            continue
        if inst.keyword == "FROM":
            ref = ctx.stages[inst.stage].from_
            name = ref.alias or ref.image
            workdir[name] = workdir.get(ref.image, False)
            current = name
        elif inst.keyword == "WORKDIR":
            workdir[current or ""] = True
        elif inst.keyword == "COPY" and inst.args:
            if workdir.get(current or "", False):
                continue
            dest = _strip_quotes(inst.args[-1])
            if dest.startswith(("/", "$")) or dest[1:].startswith((":\\", ":/")):
                continue
            yield Hit(inst.line)


@rule(
    "DL3059",
    INFO,
    "Multiple consecutive `RUN` instructions. Consider consolidation.",
    "Join consecutive RUNs with && where they belong to one step.",
)
def dl3059(ctx: LintInput) -> Iterator[Hit]:
    state: tuple[frozenset[str], int] | None = None
    for inst in ctx.instructions:
        if inst.keyword != "RUN" or inst.onbuild or inst.heredocs:
            state = None
            continue
        shell = ctx.shell(inst)
        count = len(shell.commands) if shell is not None else 0
        flags = frozenset(inst.flags)
        if state is None or state[0] != flags or count > 1 or state[1] > 1:
            state = (flags, count)
        else:
            yield Hit(inst.line)


@rule("DL4000", E, "MAINTAINER is deprecated", 'Use LABEL maintainer="name <email>".')
def dl4000(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.instructions:
        if inst.keyword == "MAINTAINER" and not inst.onbuild:
            yield Hit(inst.line)


@rule(
    "DL4006",
    W,
    "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in "
    "an alpine image or if your shell is symlinked to busybox then consider explicitly setting "
    "your SHELL to /bin/ash, or disable this check",
    'Add SHELL ["/bin/bash", "-o", "pipefail", "-c"] before the RUN.',
)
def dl4006(ctx: LintInput) -> Iterator[Hit]:
    from dockyard.lint.model import parsed_shell

    safe = False
    for inst in ctx.instructions:
        if inst.onbuild:
            continue
        if inst.keyword == "FROM":
            safe = False
        elif inst.keyword == "SHELL":
            if is_non_posix_shell(inst.args):
                safe = True
            else:
                shell = parsed_shell(" ".join(inst.args))
                safe = any(
                    cmd.basename in ("bash", "zsh", "ash")
                    and cmd.has_flag("o")
                    and "pipefail" in cmd.argv
                    for cmd in shell.commands
                )
        elif inst.keyword == "RUN" and not safe:
            parsed = ctx.shell(inst)
            if parsed is not None and parsed.has_pipes:
                yield Hit(inst.line)
