"""dockyard: a daemonless container image pipeline (lint, build, analyze, scan, ship)."""

from dockyard._version import __version__

__all__ = ["__version__"]
