"""Where an image's bytes go: per-layer changes, wasted space, dive's efficiency, findings."""

from dockyard.analyze.engine import Analyzer
from dockyard.analyze.model import (
    SCHEMA_VERSION,
    DuplicateGroup,
    Entry,
    EntryKind,
    Finding,
    LayerInfo,
    LayerReport,
    PathCost,
    Report,
    SizedPath,
)
from dockyard.analyze.policy import Policy
from dockyard.analyze.reader import align_history, analyze_image, read_layer
from dockyard.analyze.rules import RULES, Rule
from dockyard.analyze.sizes import format_size, parse_ratio, parse_size

__all__ = [
    "RULES",
    "SCHEMA_VERSION",
    "Analyzer",
    "DuplicateGroup",
    "Entry",
    "EntryKind",
    "Finding",
    "LayerInfo",
    "LayerReport",
    "PathCost",
    "Policy",
    "Report",
    "Rule",
    "SizedPath",
    "align_history",
    "analyze_image",
    "format_size",
    "parse_ratio",
    "parse_size",
    "read_layer",
]
