"""Build engine: graph of steps, solver, runc executor, overlay snapshots, exporters.

The public names load on first use, so a light module of this package (``replay``,
``dockerignore``) can be imported without the engine.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported: the replay path loads this package
if TYPE_CHECKING:
    from typing import Any

    from dockyard.build.engine import BuildResult, StageResult, build
    from dockyard.build.options import BuildOptions

__all__ = ["BuildOptions", "BuildResult", "StageResult", "build"]


def __getattr__(name: str) -> Any:
    if name == "BuildOptions":
        from dockyard.build.options import BuildOptions

        return BuildOptions
    if name in ("BuildResult", "StageResult", "build"):
        from dockyard.build import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
