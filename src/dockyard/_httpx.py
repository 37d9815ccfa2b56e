"""httpx, imported without its command-line client (a third of its import time)."""

from __future__ import annotations

import sys

# httpx's package __init__ imports its optional CLI, httpx._main, which loads rich's
# console and pygments whenever they are installed (they are: dockyard's CLI uses rich).
# dockyard never runs httpx as a command; a None entry makes that one import fail, and
# httpx then defines its stub `main` instead. Everything else in httpx is unchanged.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: E402

__all__ = ["httpx"]
