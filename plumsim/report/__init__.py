"""A self-contained HTML report of a sweep (figures embedded as base64, no external resources)."""

from plumsim.report.html import write_report

__all__ = ["write_report"]
