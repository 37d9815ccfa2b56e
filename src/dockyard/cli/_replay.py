"""The no-op fast path of ``dockyard build``: answer from the build record, before click loads.

:func:`try_replay` reads ``dockyard build`` arguments with a small parser that knows
only the options below (``_VALUE_OPTIONS``, ``_FLAGS``: those that do no more than
store the image), and only their plain spellings. Anything else (another option, ``-`` for stdin, a malformed value)
returns None and the normal command runs, parses, and reports errors as usual; so
this parser never has to reject anything itself. When the request's record proves
that nothing changed, it prints what the build would print and returns the exit code.
Like :mod:`dockyard.build.replay`, it imports only what it cannot avoid.
"""

from __future__ import annotations

import os
import sys

from dockyard.build import replay

TYPE_CHECKING = False  # typing is not imported at run time (see the module docstring)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["atomic_write", "parse_args", "try_replay"]

_VALUE_OPTIONS = {
    "-f": "file",
    "--file": "file",
    "-t": "tag",
    "--tag": "tag",
    "--target": "target",
    "--build-arg": "build_arg",
    "--platform": "platform",
    "--network": "network",
    "--progress": "progress",
    "--format": "format",
    "--iidfile": "iidfile",
    "--metadata-file": "metadata_file",
    "-j": "jobs",
    "--jobs": "jobs",
}
_FLAGS = {"--explain-cache": "explain_cache", "--load": "load"}
_REPEATED = {"tag", "build_arg"}
_CHOICES = {
    "network": ("default", "none", "host"),
    "progress": ("auto", "plain", "tty", "quiet"),
    "format": ("text", "json"),
}


def parse_args(argv: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The options of a replayable ``dockyard build`` command line, or None."""
    values: dict[str, Any] = {"tag": [], "build_arg": [], "network": "default", "context": None}
    values["progress"] = environ.get("DOCKYARD_PROGRESS", "auto")
    values["format"] = "text"
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
            args.insert(0, value)
            if arg not in _VALUE_OPTIONS:
                return None
        if arg in _FLAGS:
            values[_FLAGS[arg]] = True
        elif arg in _VALUE_OPTIONS:
            if not args:
                return None
            name = _VALUE_OPTIONS[arg]
            value = args.pop(0)
            if name in _REPEATED:
                values[name].append(value)
            else:
                values[name] = value
        elif arg.startswith("-"):
            return None  # "-" (stdin), bundled short options, anything else: the full path
        elif values["context"] is None:
            values["context"] = arg
        else:
            return None
    for name, allowed in _CHOICES.items():
        if values[name] not in allowed:
            return None
    if values.get("file") == "-" or any(not a.partition("=")[0] for a in values["build_arg"]):
        return None
    if "jobs" in values and not values["jobs"].lstrip("-").isdigit():
        return None
    values["context"] = values["context"] or "."
    return values


def _request(values: dict[str, Any], environ: Mapping[str, str]) -> str:
    return replay.build_request(
        context=values["context"],
        dockerfile=values.get("file"),
        tags=values["tag"],
        target=values.get("target"),
        build_args=values["build_arg"],
        platform=values.get("platform"),
        network=values["network"],
        environ=environ,
    )


def try_replay(argv: Sequence[str]) -> int | None:
    """Answer ``dockyard build ARGV`` from its record; None when a real build is needed.

    Never fails the command: anything unexpected means the full build runs (and reports
    any real problem itself). ``DOCKYARD_DEBUG=1`` lets such an error through instead.
    """
    try:
        return _try_replay(argv)
    except Exception:
        if os.environ.get("DOCKYARD_DEBUG", "") not in ("", "0"):
            raise
        return None


def _try_replay(argv: Sequence[str]) -> int | None:
    environ = os.environ
    values = parse_args(argv, environ)
    if values is None or not os.path.isdir(values["context"]):
        return None
    request = _request(values, environ)
    record = replay.load_record(request)
    if record is None:
        return None
    context, dockerfile = replay.paths(values["context"], values.get("file"))
    if not replay.check(request, record, context, dockerfile):
        return None
    try:
        return _report(record, values)
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _report(record: dict[str, Any], values: dict[str, Any]) -> int:
    """Print and write what the build would have: progress, digest or JSON, id files."""
    metadata: dict[str, Any] = record["metadata"]
    cache = metadata["dockyard.cache"]
    steps = [
        {**{k: v for k, v in step.items() if k != "reason"}, "cached": True}
        for step in cache["steps"]
    ]
    metadata["dockyard.cache"] = {
        **cache,
        "hits": len(steps),
        "misses": 0,
        "steps": steps,
        "replayed": True,
    }
    if values.get("iidfile"):
        atomic_write(values["iidfile"], metadata["containerimage.config.digest"])
    if values.get("metadata_file"):
        atomic_write(values["metadata_file"], _json(metadata, ensure_ascii=True))
    progress = values["progress"]
    err = sys.stderr
    for warning in record.get("warnings", []):
        print(f"WARNING: {warning}", file=err)
    if progress != "quiet":
        print(
            f"#0 every input is as the build of {record['built']} left it: nothing to run",
            file=err,
        )
        for number, step in enumerate(steps, 1):
            print(f"#{number} {step['step']}\n#{number} CACHED HIT", file=err)
    if values["format"] == "json":
        print(_json(metadata, ensure_ascii=False), end="")
    elif progress != "quiet":
        print(metadata["containerimage.digest"])
    sys.stdout.flush()
    return 0


def _json(value: object, *, ensure_ascii: bool) -> str:
    import json  # only here: printing the digest alone needs no JSON

    return json.dumps(value, indent=2, ensure_ascii=ensure_ascii) + "\n"


def atomic_write(path: str, text: str) -> None:
    """Write a small file whole or not at all (a temp file beside it, then rename)."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
