"""Dockerfile linter: hadolint-compatible rules and dockyard's own DY rules."""
