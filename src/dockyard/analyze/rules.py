"""Content a runtime image rarely needs: package-manager caches, build toolchains, documentation.

Each rule lists path patterns of the final filesystem; a pattern is an absolute path whose
components may hold shell globs (``/home/*/.cache/pip``). Everything under a matching
path counts toward the rule's saving.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str  # "cache" | "toolchain" | "docs"
    title: str
    patterns: tuple[str, ...]
    hint: str


_HOMES = ("/root", "/home/*")


def _in_homes(*subpaths: str) -> tuple[str, ...]:
    return tuple(f"{home}/{sub}" for home in _HOMES for sub in subpaths)


RULES: tuple[Rule, ...] = (
    Rule(
        "apt-lists",
        "cache",
        "apt package lists",
        ("/var/lib/apt/lists/*",),
        "add `&& rm -rf /var/lib/apt/lists/*` to the RUN that runs apt-get update, "
        "or use RUN --mount=type=cache,target=/var/lib/apt/lists",
    ),
    Rule(
        "apt-cache",
        "cache",
        "apt package cache",
        ("/var/cache/apt/*",),
        "run `apt-get clean` in the same RUN as apt-get install, or use "
        "RUN --mount=type=cache,target=/var/cache/apt",
    ),
    Rule(
        "apk-cache",
        "cache",
        "apk package cache",
        ("/var/cache/apk/*", "/etc/apk/cache/*"),
        "use `apk add --no-cache`",
    ),
    Rule(
        "yum-dnf-cache",
        "cache",
        "yum/dnf package cache",
        ("/var/cache/yum/*", "/var/cache/dnf/*", "/var/cache/zypp/*"),
        "run `dnf clean all` (or yum) in the same RUN, or use a cache mount",
    ),
    Rule(
        "pip-cache",
        "cache",
        "pip cache",
        _in_homes(".cache/pip"),
        "use `pip install --no-cache-dir` or RUN --mount=type=cache,target=/root/.cache/pip",
    ),
    Rule(
        "npm-cache",
        "cache",
        "npm / yarn / pnpm cache",
        (
            *_in_homes(".npm", ".cache/yarn", ".yarn/cache", ".local/share/pnpm/store"),
            "/usr/local/share/.cache/yarn",
            "/tmp/npm-*",
        ),
        "run `npm cache clean --force` / `yarn cache clean` in the same RUN, "
        "or use RUN --mount=type=cache,target=/root/.npm",
    ),
    Rule(
        "go-cache",
        "cache",
        "Go build and module cache",
        (*_in_homes(".cache/go-build", "go/pkg/mod"), "/go/pkg/mod", "/go/pkg/cache"),
        "build in a separate stage and copy only the binary, or use "
        "RUN --mount=type=cache,target=/root/.cache/go-build",
    ),
    Rule(
        "maven-gradle-cache",
        "cache",
        "Maven / Gradle cache",
        _in_homes(".m2/repository", ".gradle/caches", ".gradle/wrapper/dists"),
        "build in a separate stage and copy only the artifact, or use a cache mount",
    ),
    Rule(
        "cargo-cache",
        "cache",
        "Cargo registry cache",
        (
            *_in_homes(".cargo/registry", ".cargo/git"),
            "/usr/local/cargo/registry",
            "/usr/local/cargo/git",
        ),
        "build in a separate stage, or use RUN --mount=type=cache,target=/usr/local/cargo/registry",
    ),
    Rule(
        "composer-gem-cache",
        "cache",
        "Composer / RubyGems / other caches",
        (*_in_homes(".composer/cache", ".cache/composer", ".gem", ".cache/bundler"),),
        "clear the cache in the same RUN, or use a cache mount",
    ),
    Rule(
        "c-toolchain",
        "toolchain",
        "C/C++ compiler toolchain",
        (
            "/usr/lib/gcc",
            "/usr/libexec/gcc",
            "/usr/lib/gcc-cross",
            "/usr/bin/gcc*",
            "/usr/bin/g++*",
            "/usr/bin/cc1*",
            "/usr/bin/c++*",
            "/usr/bin/cpp-*",
            "/usr/bin/*-linux-gnu-*",
            "/usr/bin/*-linux-musl-*",
            "/usr/bin/ld",
            "/usr/bin/ld.*",
            "/usr/bin/as",
            "/usr/lib/llvm-*",
            "/usr/lib/x86_64-linux-gnu/libLLVM*",
            "/usr/lib/aarch64-linux-gnu/libLLVM*",
        ),
        "compile in a build stage and COPY --from it only what runs",
    ),
    Rule(
        "headers",
        "toolchain",
        "C headers and static libraries",
        (
            "/usr/include",
            "/usr/local/include",
            "/usr/lib/*.a",
            "/usr/lib/*-linux-gnu/*.a",
            "/usr/local/lib/*.a",
        ),
        "install -dev packages in a build stage only",
    ),
    Rule(
        "go-toolchain",
        "toolchain",
        "Go toolchain",
        ("/usr/local/go", "/usr/lib/go", "/usr/lib/go-*", "/usr/share/go-*"),
        "build in a golang stage and ship the binary on a distroless/static base",
    ),
    Rule(
        "other-toolchains",
        "toolchain",
        "Rust, Node build and other toolchains",
        (
            "/usr/local/rustup",
            *_in_homes(".rustup"),
            "/usr/local/cargo/bin/rustc",
            "/usr/lib/node_modules/npm",
            "/usr/local/lib/node_modules/npm",
            "/usr/share/cmake*",
            "/usr/bin/cmake",
            "/usr/bin/make",
        ),
        "build in a separate stage and ship only the result",
    ),
    Rule(
        "docs",
        "docs",
        "documentation, man and info pages",
        (
            "/usr/share/doc",
            "/usr/share/man",
            "/usr/share/info",
            "/usr/share/gtk-doc",
            "/usr/local/share/doc",
            "/usr/local/share/man",
            "/usr/local/man",
        ),
        "remove them in the RUN that installs packages, or configure dpkg "
        "path-exclude=/usr/share/doc/* (and apk's `--no-doc`-style packages)",
    ),
)
