"""dockyard's own rules (DY...): cache busters, heavy final images, secrets, stage mistakes."""

from __future__ import annotations

import re
from collections.abc import Iterator

from dockyard.build.git import is_git_ref, parse_git_ref
from dockyard.lint.model import (
    Edit,
    Instruction,
    LintInput,
    Severity,
    cache_mount_targets,
    mount_sources,
)
from dockyard.lint.registry import Hit, rule
from dockyard.lint.rules_dl import is_pip_install
from dockyard.lint.shell import Command

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

# ------------------------------------------------------------------ dependency installs

# ecosystem -> (manifests to copy first, a cache directory for --mount=type=cache)
_ECOSYSTEMS: dict[str, tuple[tuple[str, ...], str]] = {
    "go": (("go.mod", "go.sum"), "/go/pkg/mod"),
    "npm": (("package.json", "package-lock.json"), "/root/.npm"),
    "yarn": (("package.json", "yarn.lock"), "/usr/local/share/.cache/yarn"),
    "pip": (("requirements.txt",), "/root/.cache/pip"),
    "poetry": (("pyproject.toml", "poetry.lock"), "/root/.cache/pypoetry"),
    "maven": (("pom.xml",), "/root/.m2"),
    "gradle": (("build.gradle", "settings.gradle"), "/root/.gradle"),
    "bundler": (("Gemfile", "Gemfile.lock"), "/usr/local/bundle/cache"),
    "cargo": (("Cargo.toml", "Cargo.lock"), "/usr/local/cargo/registry"),
    "composer": (("composer.json", "composer.lock"), "/root/.composer/cache"),
}


def dependency_install(cmd: Command) -> str | None:
    """The ecosystem whose dependencies ``cmd`` downloads, if it is such a command."""
    name, argv = cmd.basename, cmd.argv
    plain = [arg for arg in argv if not arg.startswith("-")]
    first = plain[0] if plain else ""
    if name == "go" and argv[:2] == ("mod", "download"):
        return "go"
    if name == "npm" and first in ("ci", "install", "i") and len(plain) == 1:
        return "npm"
    if name == "yarn" and (not plain or first == "install"):
        return "yarn"
    if is_pip_install(cmd) and ("-r" in argv or "--requirement" in argv):
        return "pip"
    if name == "poetry" and first == "install":
        return "poetry"
    if name in ("mvn", "mvnw", "./mvnw") and any(a.startswith("dependency:") for a in argv):
        return "maven"
    if name in ("gradle", "gradlew", "./gradlew") and "dependencies" in argv:
        return "gradle"
    if name == "bundle" and first == "install":
        return "bundler"
    if name == "cargo" and first in ("fetch", "build"):
        return "cargo"
    if name == "composer" and first == "install":
        return "composer"
    return None


def _is_broad_copy(inst: Instruction) -> bool:
    if inst.keyword not in ("COPY", "ADD") or inst.flag("from") is not None or inst.heredocs:
        return False
    return any(src in (".", "./", "*", "./*") for src in inst.args[:-1])


def _manifest_sources(ctx: LintInput, eco: str, cmd: Command) -> tuple[str, ...]:
    if eco == "pip":
        argv = cmd.argv
        files = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("-r", "--requirement")]
        return tuple(files) or ("requirements.txt",)
    manifests = _ECOSYSTEMS[eco][0]
    if ctx.context_entries is not None:
        present = tuple(m for m in manifests if m in ctx.context_entries)
        return present or manifests[:1]
    return manifests


@rule(
    "DY001",
    W,
    "Dependency install after a COPY that brings in the whole source: every source edit "
    "re-downloads all dependencies",
    "COPY only the dependency manifests (go.mod go.sum, package*.json, requirements.txt, "
    "pom.xml) before the install, and the rest of the source after it.",
    fixable=True,
)
def dy001(ctx: LintInput) -> Iterator[Hit]:
    for stage in ctx.stages:
        broad: Instruction | None = None
        for inst in stage.instructions:
            if inst.onbuild:
                continue
            if _is_broad_copy(inst):
                broad = broad or inst
                continue
            if inst.keyword != "RUN" or broad is None:
                continue
            shell = ctx.shell(inst)
            if shell is None:
                continue
            installs = [(cmd, dependency_install(cmd)) for cmd in shell.commands]
            hits = [(cmd, eco) for cmd, eco in installs if eco is not None]
            if not hits:
                continue
            cmd, eco = hits[0]
            assert eco is not None
            message = (
                f"`{cmd.name} {' '.join(cmd.argv)}` runs after `{' '.join(broad.node.original.split())}`"
                f" (line {broad.line}): any source change invalidates the dependency layer"
            )
            yield Hit(inst.line, message, _split_copy_edit(ctx, broad, inst, eco, cmd))
            break


def _split_copy_edit(
    ctx: LintInput, broad: Instruction, run: Instruction, eco: str, cmd: Command
) -> tuple[Edit, ...]:
    """Move the install before the broad COPY, behind a COPY of the manifests only.

    Only when the RUN does nothing but install dependencies, directly follows the COPY
    (comments aside), and the ecosystem is one whose manifests are well known.
    """
    if eco not in ("go", "npm", "pip", "maven", "yarn"):
        return ()
    shell = ctx.shell(run)
    if shell is None or not shell.ok or run.json or run.heredocs:
        return ()
    if any(dependency_install(c) is None for c in shell.commands):
        return ()
    if run.index != broad.index + 1 or broad.json:
        return ()
    dest = broad.args[-1]
    target = "./" if dest in (".", "./") else dest if dest.endswith("/") else dest + "/"
    if eco == "npm":
        sources: tuple[str, ...] = ("package*.json",)
    else:
        sources = _manifest_sources(ctx, eco, cmd)
    flags = " ".join(flag for flag in broad.flags if flag.startswith(("--chown", "--chmod")))
    keyword = ctx.lines[broad.line - 1].lstrip().split(None, 1)[0]
    copy = " ".join(part for part in (keyword, flags, *sources, target) if part)
    run_lines = tuple(line.rstrip("\r\n") for line in ctx.lines[run.line - 1 : run.end_line])
    broad_lines = tuple(line.rstrip("\r\n") for line in ctx.lines[broad.line - 1 : broad.end_line])
    return (Edit(broad.line, run.end_line, (copy, *run_lines, *broad_lines)),)


# ------------------------------------------------------------------ images

_TOOLCHAINS = ("golang", "node", "maven", "gradle", "rust", "gcc", "openjdk", "python")


def _is_toolchain(short: str, tag: str | None) -> bool:
    if short not in _TOOLCHAINS:
        return False
    tag = tag or ""
    if short in {"python", "node"}:
        return not any(word in tag for word in ("slim", "alpine", "distroless"))
    return True


@rule(
    "DY002",
    W,
    "The final stage runs on a toolchain image: the compiler and build tools ship to production",
    "Build in a first stage (FROM golang AS build) and copy only the artifact into a small "
    "runtime image (distroless, alpine, slim, scratch).",
)
def dy002(ctx: LintInput) -> Iterator[Hit]:
    if not ctx.stages:
        return
    final = ctx.stages[-1]
    aliases = ctx.stage_names
    ref = final.from_
    seen: set[int] = set()
    while ref.image.lower() in aliases and aliases[ref.image.lower()] not in seen:
        seen.add(aliases[ref.image.lower()])
        ref = ctx.stages[aliases[ref.image.lower()]].from_
    if _is_toolchain(ref.short_name, ref.tag):
        yield Hit(
            final.line,
            f"final stage is built on {ref.image}:{ref.tag or 'latest'}, a toolchain image",
        )


_FAT = {
    "ubuntu": None,
    "debian": "debian:<version>-slim",
    "python": "python:<version>-slim",
    "node": "node:<version>-slim or -alpine",
    "openjdk": "eclipse-temurin:<version>-jre",
    "ruby": "ruby:<version>-slim",
    "php": "php:<version>-fpm-alpine",
    "centos": None,
}


@rule(
    "DY003",
    INFO,
    "A large base image is used where a slim, alpine or distroless variant exists",
    "Use the -slim/-alpine variant, or a distroless image for the runtime stage.",
)
def dy003(ctx: LintInput) -> Iterator[Hit]:
    aliases = ctx.stage_names
    for stage in ctx.stages:
        ref = stage.from_
        if ref.image.lower() in aliases or ref.image == "scratch":
            continue
        short = ref.short_name
        tag = ref.tag or "latest"
        if short not in _FAT or _FAT[short] is None:
            continue
        if any(word in tag for word in ("slim", "alpine", "distroless", "fpm-alpine")):
            continue
        yield Hit(stage.line, f"{ref.image}:{tag} is a full image; consider {_FAT[short]}")


# ------------------------------------------------------------------ caches

_CACHE_CLEANS: dict[str, tuple[str, ...]] = {
    "yum": ("/var/cache/yum",),
    "dnf": ("/var/cache/dnf", "/var/cache/yum"),
    "microdnf": ("/var/cache/dnf", "/var/cache/yum"),
    "zypper": ("/var/cache/zypp",),
    "npm": ("/root/.npm",),
    "yarn": ("/usr/local/share/.cache/yarn",),
}


def _cache_left(cmds: tuple[Command, ...], inst: Instruction) -> str | None:
    mounts = cache_mount_targets(inst)
    for cmd in cmds:
        name, argv = cmd.basename, cmd.argv
        manager: str | None = None
        if name in ("yum", "dnf", "microdnf", "zypper") and "install" in argv:
            manager = name
        elif name == "npm" and argv[:1] in (("ci",), ("install",)):
            manager = "npm"
        elif name == "yarn" and (not argv or argv[0] == "install"):
            manager = "yarn"
        if manager is None:
            continue
        dirs = _CACHE_CLEANS[manager]
        if any(m.startswith(d) or d.startswith(m) for m in mounts for d in dirs if m):
            continue
        cleaned = False
        for other in cmds:
            oname, oargv = other.basename, other.argv
            if oname in ("yum", "dnf", "microdnf", "zypper") and oargv[:1] == ("clean",):
                cleaned = True
            if oname in ("npm", "yarn") and oargv[:2] == ("cache", "clean"):
                cleaned = True
            if oname == "rm" and any(a.startswith(d) for a in oargv for d in dirs):
                cleaned = True
        if not cleaned:
            return manager
    return None


@rule(
    "DY004",
    W,
    "Package-manager cache left in the layer",
    "Clean the cache in the same RUN (yum/dnf clean all, npm cache clean --force) or use "
    "RUN --mount=type=cache for it.",
)
def dy004(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.runs():
        shell = ctx.shell(inst)
        if shell is None:
            continue
        manager = _cache_left(shell.commands, inst)
        if manager is not None:
            yield Hit(inst.line, f"the {manager} cache stays in this layer")


# ------------------------------------------------------------------ secrets

_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASS$|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH$)",
    re.IGNORECASE,
)
_NOT_SECRET_NAME = re.compile(
    r"(_FILE|_PATH|_DIR|_URL|_ENDPOINT|_HOST|_NAME|_USER)$", re.IGNORECASE
)
_SECRET_VALUE = re.compile(
    r"(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20}|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY|sk_live_[0-9a-zA-Z]{20,}|AIza[0-9A-Za-z_-]{35})"
)


def _arg_pairs(inst: Instruction) -> list[tuple[str, str]]:
    out = []
    for arg in inst.args:
        name, _, value = arg.partition("=")
        out.append((name, value))
    return out


def _env_pairs(inst: Instruction) -> list[tuple[str, str]]:
    args = inst.args
    return [(args[i], args[i + 1]) for i in range(0, len(args) - 2, 3)]


@rule(
    "DY005",
    E,
    "Secret in ENV or ARG: it is stored in the image config or build history",
    "Pass secrets with RUN --mount=type=secret,id=NAME (dockyard build --secret id=NAME,src=FILE).",
)
def dy005(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.instructions:
        if inst.keyword == "ENV":
            pairs = _env_pairs(inst)
        elif inst.keyword == "ARG":
            pairs = _arg_pairs(inst)
        else:
            continue
        for name, value in pairs:
            if _SECRET_VALUE.search(value):
                yield Hit(inst.line, f"{inst.keyword} {name} holds what looks like a credential")
                break
            if _SECRET_NAME.search(name) and not _NOT_SECRET_NAME.search(name):
                yield Hit(inst.line, f"{inst.keyword} {name} looks like a secret")
                break


# ------------------------------------------------------------------ context

_HEAVY = (".git", "node_modules", "target", "build", "dist", "__pycache__", ".venv", "vendor")


@rule(
    "DY006",
    W,
    "`COPY .` with no .dockerignore sends and copies the whole context",
    "Add a .dockerignore listing .git, node_modules and build output.",
)
def dy006(ctx: LintInput) -> Iterator[Hit]:
    if ctx.context_entries is None or ctx.has_dockerignore:
        return
    heavy = sorted(name for name in _HEAVY if name in ctx.context_entries)
    if not heavy:
        return
    for inst in ctx.instructions:
        if _is_broad_copy(inst):
            yield Hit(
                inst.line,
                f"`{inst.keyword} .` copies {', '.join(heavy)} (no .dockerignore in the context)",
            )


@rule(
    "DY007",
    INFO,
    "Package-manager step without a cache mount: downloads repeat on every rebuild",
    "Add --mount=type=cache,target=<cache dir> to the RUN (needs BuildKit syntax 1.2+).",
)
def dy007(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.runs():
        if cache_mount_targets(inst):
            continue
        shell = ctx.shell(inst)
        if shell is None:
            continue
        for cmd in shell.commands:
            eco = dependency_install(cmd)
            if eco is not None:
                target = _ECOSYSTEMS[eco][1]
                yield Hit(
                    inst.line,
                    f"`{cmd.name} {' '.join(cmd.argv[:2])}` would reuse downloads with "
                    f"--mount=type=cache,target={target}",
                )
                break


@rule(
    "DY008",
    W,
    "ADD of a URL without --checksum: the download is not verified",
    "Use ADD --checksum=sha256:<digest> <url> <dest>; for a git repository, pin the commit:"
    " ADD <repo>#<commit hash> <dest>.",
)
def dy008(ctx: LintInput) -> Iterator[Hit]:
    for inst in ctx.instructions:
        if inst.keyword != "ADD" or inst.flag("checksum") is not None:
            continue
        sources = inst.args[:-1]
        git = [src for src in sources if is_git_ref(src)]
        if any(not _COMMIT.fullmatch(parse_git_ref(src).ref) for src in git):
            yield Hit(
                inst.line,
                "ADD of a git repository at a branch or tag: what it checks out can change",
            )
        elif any(src.startswith(("http://", "https://")) for src in sources if src not in git):
            yield Hit(inst.line)


_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# ------------------------------------------------------------------ stages


def _references(ctx: LintInput) -> list[tuple[Instruction, str]]:
    """Every (instruction, name) where a stage is named: FROM, COPY --from, RUN --mount from=."""
    out: list[tuple[Instruction, str]] = []
    for inst in ctx.instructions:
        if inst.keyword == "FROM" and not inst.onbuild and inst.args:
            out.append((inst, inst.args[0]))
        elif inst.keyword in ("COPY", "ADD"):
            source = inst.flag("from")
            if source:
                out.append((inst, source))
        elif inst.keyword == "RUN":
            out.extend((inst, source) for source in mount_sources(inst))
    return out


def _stage_of(ctx: LintInput, name: str) -> int | None:
    lowered = name.lower()
    if lowered in ctx.stage_names:
        return ctx.stage_names[lowered]
    if name.isdigit() and int(name) < len(ctx.stages):
        return int(name)
    return None


@rule(
    "DY009",
    W,
    "Unused stage: no later stage or COPY --from uses it, and it is not the final stage",
    "Remove the stage, or build it with --target if it is meant to be built alone.",
)
def dy009(ctx: LintInput) -> Iterator[Hit]:
    used: set[int] = set()
    for inst, name in _references(ctx):
        target = _stage_of(ctx, name)
        if target is not None and target != inst.stage:
            used.add(target)
    for stage in ctx.stages[:-1]:
        if stage.index not in used:
            label = stage.from_.alias or f"#{stage.index}"
            yield Hit(stage.line, f"stage {label} is never used")


@rule(
    "DY010",
    E,
    "A stage references itself or a later stage",
    "A stage can only use stages defined above it; reorder the stages.",
)
def dy010(ctx: LintInput) -> Iterator[Hit]:
    for inst, name in _references(ctx):
        if inst.stage < 0:
            continue
        target = _stage_of(ctx, name)
        if target is None or (inst.keyword == "FROM" and name.isdigit()):
            continue
        if inst.keyword == "FROM" and target == inst.stage:
            continue  # FROM nginx AS nginx: the image, not the stage
        if target >= inst.stage:
            what = "itself" if target == inst.stage else f"the later stage {name}"
            yield Hit(inst.line, f"{inst.keyword} refers to {what}")
