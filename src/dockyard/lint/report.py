"""Findings as text, hadolint JSON, SARIF 2.1.0 and GitLab code quality (Code Climate) JSON."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from dockyard.lint.model import Finding, Severity
from dockyard.lint.registry import RULES

__all__ = ["FORMATS", "to_codeclimate", "to_json", "to_sarif", "to_text"]

FORMATS = ("text", "json", "sarif", "codeclimate")


def to_text(findings: Sequence[Finding]) -> str:
    """``file:line:col CODE level: message`` and an indented fix hint per finding."""
    out: list[str] = []
    for f in findings:
        out.append(f"{f.file}:{f.line}:{f.column} {f.code} {f.level.label}: {f.message}")
        if f.fix:
            out.append(f"    fix: {f.fix}")
    return "\n".join(out)


def to_json(findings: Sequence[Finding]) -> list[dict[str, object]]:
    return [f.to_json() for f in findings]


_SARIF_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "note",
    Severity.STYLE: "note",
    Severity.NONE: "none",
}


def to_sarif(findings: Sequence[Finding], version: str) -> dict[str, Any]:
    codes = sorted({f.code for f in findings})
    rules = []
    for code in codes:
        rule = RULES.get(code)
        entry: dict[str, Any] = {"id": code}
        if rule is not None:
            entry["shortDescription"] = {"text": rule.message}
            entry["help"] = {"text": rule.hint}
            entry["helpUri"] = rule.doc_url
        rules.append(entry)
    results = [
        {
            "ruleId": f.code,
            "level": _SARIF_LEVEL[f.level],
            "message": {"text": f.message + (f" Fix: {f.fix}" if f.fix else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file},
                        "region": {"startLine": f.line, "startColumn": f.column},
                    }
                }
            ],
        }
        for f in findings
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dockyard",
                        "version": version,
                        "informationUri": "https://github.com/hadolint/hadolint",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }


_CC_SEVERITY = {
    Severity.ERROR: "critical",
    Severity.WARNING: "major",
    Severity.INFO: "minor",
    Severity.STYLE: "info",
    Severity.NONE: "info",
}


def to_codeclimate(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """GitLab's code quality report: one issue per finding with a stable fingerprint."""
    out = []
    for f in findings:
        fingerprint = hashlib.sha256(f"{f.file}:{f.line}:{f.code}:{f.message}".encode()).hexdigest()
        out.append(
            {
                "type": "issue",
                "check_name": f.code,
                "description": f"{f.code}: {f.message}",
                "content": {"body": f.fix or ""},
                "categories": ["Style" if f.level <= Severity.INFO else "Bug Risk"],
                "severity": _CC_SEVERITY[f.level],
                "fingerprint": fingerprint,
                "location": {"path": f.file, "lines": {"begin": f.line, "end": f.line}},
            }
        )
    return out
