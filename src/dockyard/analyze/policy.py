"""CI gates over a report: size budget, wasted bytes, efficiency (like dive's --ci rules)."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.analyze.model import Report
from dockyard.analyze.sizes import format_size
from dockyard.errors import PolicyViolationError

__all__ = ["Policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    """Limits; None means not checked.

    ``budget`` bounds the image size (``Report.size_bytes``, the summed layer contents, as
    docker and dive report it); ``max_wasted`` bounds ``Report.wasted_bytes`` (dive's
    highestWastedBytes); ``min_efficiency`` bounds ``Report.efficiency`` (dive's
    lowestEfficiency).
    """

    budget: int | None = None
    max_wasted: int | None = None
    min_efficiency: float | None = None

    def violations(self, report: Report) -> list[str]:
        found: list[str] = []
        if self.budget is not None and report.size_bytes > self.budget:
            found.append(
                f"image size {format_size(report.size_bytes)} ({report.size_bytes} bytes) "
                f"exceeds the budget of {format_size(self.budget)} ({self.budget} bytes)"
            )
        if self.max_wasted is not None and report.wasted_bytes > self.max_wasted:
            found.append(
                f"wasted {format_size(report.wasted_bytes)} ({report.wasted_bytes} bytes) "
                f"exceeds --max-wasted {format_size(self.max_wasted)} ({self.max_wasted} bytes)"
            )
        if self.min_efficiency is not None and report.efficiency < self.min_efficiency:
            found.append(
                f"efficiency {report.efficiency:.4f} is below --min-efficiency "
                f"{self.min_efficiency:.4f}"
            )
        return found

    def enforce(self, report: Report, *, exit_code: int = 1) -> None:
        """Raise PolicyViolationError naming every limit the report breaks."""
        found = self.violations(report)
        if found:
            raise PolicyViolationError(
                "; ".join(found),
                exit_code=exit_code,
                location=report.image or None,
                hint="see the wasted paths and findings in the report",
            )
