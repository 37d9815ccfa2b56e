"""Build engine: graph of steps, solver, runc executor, overlay snapshots, exporters."""

from dockyard.build.engine import BuildResult, StageResult, build
from dockyard.build.options import BuildOptions

__all__ = ["BuildOptions", "BuildResult", "StageResult", "build"]
