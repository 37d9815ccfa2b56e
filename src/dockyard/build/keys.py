"""Cache keys of build steps: pure functions of named inputs, and what differs between two."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KEY_VERSION", "KeyDifference", "KeyInputs"]

KEY_VERSION = "dockyard-step-v1"
"""Bump when the meaning of an input changes, so old cache entries stop matching."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class KeyDifference:
    """The first input that differs between two computations of the same step."""

    name: str
    before: str | None
    after: str | None

    def describe(self) -> str:
        if self.before is None:
            return f"{self.name} is new: {self.after}"
        if self.after is None:
            return f"{self.name} was removed (was {self.before})"
        return f"{self.name} changed: {self.before} -> {self.after}"


@dataclass(frozen=True, slots=True)
class KeyInputs:
    """Everything that determines a step's result, as named, canonical values.

    ``op`` says what the step does (``run``, ``copy``, ``base``, ...); ``parent`` is the key
    of the state the step starts from; ``inputs`` are the step's other inputs in the
    order they should be reported (command, env, user, a file set's digest, ...).
    What must *not* change a step's result (timestamps, progress, tags, output options)
    never enters here, so it cannot change the key.
    """

    op: str
    parent: str | None
    inputs: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def of(
        cls, op: str, parent: str | None, inputs: Mapping[str, Any] | Iterable[tuple[str, Any]]
    ) -> KeyInputs:
        """Build from a mapping or pairs; non-string values are canonicalized as JSON."""
        pairs = inputs.items() if isinstance(inputs, Mapping) else inputs
        return cls(
            op,
            parent,
            tuple((name, v if isinstance(v, str) else _canonical(v)) for name, v in pairs),
        )

    @property
    def key(self) -> str:
        """``sha256:<hex>`` over a canonical encoding of the version, op, parent and inputs."""
        payload = _canonical([KEY_VERSION, self.op, self.parent, [list(p) for p in self.inputs]])
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "parent": self.parent, "inputs": [list(p) for p in self.inputs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyInputs:
        return cls(
            str(data["op"]),
            data.get("parent"),
            tuple((str(k), str(v)) for k, v in data.get("inputs", ())),
        )

    def first_difference(self, previous: KeyInputs) -> KeyDifference | None:
        """What changed since ``previous`` (the parent first, then inputs in order)."""
        if self.op != previous.op:
            return KeyDifference("operation", previous.op, self.op)
        if self.parent != previous.parent:
            return KeyDifference("parent", previous.parent, self.parent)
        before = dict(previous.inputs)
        for name, value in self.inputs:
            if before.get(name) != value:
                return KeyDifference(name, before.get(name), value)
        now = dict(self.inputs)
        for name, value in previous.inputs:
            if name not in now:
                return KeyDifference(name, value, None)
        return None
