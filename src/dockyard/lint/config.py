"""Lint settings from .hadolint.yaml and the [lint] table of dockyard.toml."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from dockyard.errors import ConfigError
from dockyard.lint.model import Severity

__all__ = ["LintConfig", "load_config"]

HADOLINT_FILES = (".hadolint.yaml", ".hadolint.yml")


@dataclass(frozen=True, slots=True)
class LintConfig:
    """What to ignore, which levels to change, which registries to trust, when to fail."""

    ignored: frozenset[str] = frozenset()
    overrides: Mapping[str, Severity] = field(default_factory=dict)
    trusted_registries: tuple[str, ...] = ()
    failure_threshold: Severity = Severity.INFO
    no_fail: bool = False

    def level_of(self, code: str, default: Severity) -> Severity:
        return self.overrides.get(code, default)

    def merged(self, other: Mapping[str, Any], source: str) -> LintConfig:
        """The config with the hadolint-style keys of ``other`` applied on top."""
        ignored = set(self.ignored)
        overrides = dict(self.overrides)
        trusted = list(self.trusted_registries)
        threshold = self.failure_threshold
        no_fail = self.no_fail
        for key, value in other.items():
            norm = key.replace("_", "-").lower()
            if norm == "ignored":
                ignored.update(_str_list(value, source, key))
            elif norm in ("trustedregistries", "trusted-registries"):
                trusted.extend(_str_list(value, source, key))
            elif norm == "override":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{key} must be a table of level: [codes]", location=source)
                for level, codes in value.items():
                    severity = _severity(str(level), source)
                    for code in _str_list(codes, source, f"{key}.{level}"):
                        overrides[code] = severity
            elif norm in ("failure-threshold", "failurethreshold"):
                threshold = _severity(str(value), source)
            elif norm == "no-fail":
                no_fail = bool(value)
        return replace(
            self,
            ignored=frozenset(ignored),
            overrides=overrides,
            trusted_registries=tuple(trusted),
            failure_threshold=threshold,
            no_fail=no_fail,
        )


def _severity(text: str, source: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError as exc:
        raise ConfigError(str(exc), location=source) from exc


def _str_list(value: object, source: str, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ConfigError(f"{key} must be a list of strings", location=source)


def load_config(directory: Path, explicit: Path | None = None) -> LintConfig:
    """Read ``.hadolint.yaml`` (or ``explicit``) and ``dockyard.toml`` [lint] in ``directory``.

    dockyard.toml is applied last, so it wins where both set something.
    """
    config = LintConfig()
    candidates = [explicit] if explicit is not None else [directory / n for n in HADOLINT_FILES]
    for path in candidates:
        if path is None or not path.is_file():
            if explicit is not None:
                raise ConfigError("config file not found", location=str(explicit))
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read: {exc}", location=str(path)) from exc
        if not isinstance(data, Mapping):
            raise ConfigError("expected a mapping at the top level", location=str(path))
        config = config.merged(data, str(path))
        break
    toml_path = directory / "dockyard.toml"
    if toml_path.is_file():
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", location=str(toml_path)) from exc
        table = data.get("lint", {})
        if not isinstance(table, Mapping):
            raise ConfigError("[lint] must be a table", location=str(toml_path))
        config = config.merged(table, f"{toml_path} [lint]")
    return config
