"""Parse a generated 2,000-line Dockerfile and print how long it takes (target: well under 50 ms).

Compares against BuildKit's dumper when a ``dockerfile-dump`` binary is on PATH; otherwise
prints dockyard's figures alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dockyard.dockerfile import from_ast, load, parse

BLOCK = [
    "# stage {i}",
    "FROM --platform=$BUILDPLATFORM golang:1.22 AS build{i}",
    "ARG VERSION=1.{i}",
    'ENV CGO_ENABLED=0 GOFLAGS="-trimpath" PATH=/go/bin:$PATH',
    'LABEL org.opencontainers.image.version="${{VERSION}}" maintainer="team@example.com"',
    "WORKDIR /src/{i}",
    "COPY --chown=1000:1000 --chmod=0644 go.mod go.sum ./",
    "RUN --mount=type=cache,target=/go/pkg/mod \\",
    "    --mount=type=cache,target=/root/.cache/go-build \\",
    "    go mod download && \\",
    "    go build -o /out/app{i} ./cmd/app",
    "RUN <<EOF",
    "set -eux",
    "echo building {i}",
    "EOF",
    'CMD ["/out/app{i}", "--port", "80{i}"]',
    "EXPOSE 80 443",
    "HEALTHCHECK --interval=30s --timeout=3s CMD wget -qO- http://localhost/ || exit 1",
    "USER 1000:1000",
    "",
]


def generate(lines: int = 2000) -> str:
    out: list[str] = []
    i = 0
    while len(out) < lines:
        out.extend(line.format(i=i) for line in BLOCK)
        i += 1
    return "\n".join(out[:lines]) + "\n"


def best_of(fn: object, runs: int = 15) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    text = generate()
    assert text.count("\n") == 2000
    df = parse(text)
    t_parse = best_of(lambda: parse(text))
    t_typed = best_of(lambda: from_ast(df))
    t_load = best_of(lambda: load(text))
    print(f"dockerfile: 2000 lines, {len(df.nodes)} instructions")
    print(f"dockyard parse:            {t_parse * 1000:7.2f} ms")
    print(f"dockyard typed (from_ast): {t_typed * 1000:7.2f} ms")
    print(f"dockyard load (plan):      {t_load * 1000:7.2f} ms")
    reference = shutil.which("dockerfile-dump")
    if reference is None:
        print("reference: dockerfile-dump (BuildKit parser dumper) not installed; no ratio")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Dockerfile"
        path.write_text(text)
        t_ref = best_of(
            lambda: subprocess.run([reference, str(path)], capture_output=True, check=True), 5
        )
    print(
        f"buildkit dumper (process): {t_ref * 1000:7.2f} ms  ratio dockyard/buildkit {t_parse / t_ref:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
