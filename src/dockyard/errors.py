"""The one exception tree of dockyard; every error carries the CLI exit code it maps to.

Library code raises only these. Exceptions of third-party libraries (httpx, tarfile,
json, yaml, OSError from the edges) are translated where they enter dockyard, with
``raise SomeDockyardError(...) from exc`` so ``--debug`` still shows the cause.

::

    DockyardError                     exit 1   anything dockyard reports
    ├── UsageError                    exit 2   bad flags or arguments on the command line
    │   └── NotImplementedYetError    exit 2   a command or option that is not built yet
    ├── InputError                    exit 2   bad input files or values (user must fix them)
    │   ├── DockerfileError           exit 2   parse/expansion error at file:line:col, with caret
    │   ├── InvalidReferenceError     exit 2   an image reference that is not well formed
    │   ├── InvalidDigestError        exit 2   an unknown algorithm or a malformed hex digest
    │   ├── ManifestError             exit 2   malformed manifest, index, config or media type
    │   ├── ArchiveError              exit 2   unsafe or malformed tarball / image layout
    │   ├── BuildContextError         exit 2   context path escapes, bad .dockerignore, missing file
    │   ├── ConfigError               exit 2   bad dockyard.toml / .hadolint.yaml / docker config
    │   └── InvalidVersionError       exit 2   a package version its ecosystem cannot order
    ├── NotFoundError                 exit 1   an image, tag, blob or stage that does not exist
    ├── IntegrityError                exit 1   content whose digest or size is not what was promised
    ├── StoreError                    exit 1   the local store cannot be read or written
    ├── RegistryError                 exit 1   the registry failed us after retries
    │   ├── RegistryUnavailableError  exit 1   connection refused/reset/timeouts, 5xx, 429
    │   ├── RegistryAuthError         exit 1   401/403 after trying every credential we have
    │   └── RegistryProtocolError     exit 1   an answer that does not follow the distribution spec
    ├── BuildError                    exit 1   a build that could not complete
    │   ├── StepFailedError           exit 1   a RUN step exited non-zero
    │   └── ExecutorUnavailableError  exit 1   runc or overlayfs missing; says what to install
    ├── ScanError                     exit 1   the vulnerability database or a cataloger failed
    └── PolicyViolationError          exit 1   a gate failed (severity, size budget, lint level);
                                               the command sets the code from --exit-code

Every error has a one-line ``message`` (what went wrong), an optional ``location``
(file:line, a reference, a URL: where) and an optional ``hint`` (what to do about it).
``str(err)`` joins them into the single line the CLI prints.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported: the build replay path may load this module
if TYPE_CHECKING:
    from typing import ClassVar

__all__ = [
    "ArchiveError",
    "BuildContextError",
    "BuildError",
    "ConfigError",
    "DockerfileError",
    "DockyardError",
    "ExecutorUnavailableError",
    "InputError",
    "IntegrityError",
    "InvalidDigestError",
    "InvalidReferenceError",
    "InvalidVersionError",
    "ManifestError",
    "NotFoundError",
    "NotImplementedYetError",
    "PolicyViolationError",
    "RegistryAuthError",
    "RegistryError",
    "RegistryProtocolError",
    "RegistryUnavailableError",
    "ScanError",
    "StepFailedError",
    "StoreError",
    "UsageError",
]


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose."""

    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class UsageError(DockyardError):
    """Bad flags or arguments on the command line."""

    exit_code = 2


class NotImplementedYetError(UsageError):
    """A command or option that exists in the interface but is not built yet."""


class InputError(DockyardError):
    """Input the user must fix: files, references, values."""

    exit_code = 2


class DockerfileError(InputError):
    """A Dockerfile that cannot be parsed or evaluated.

    Carries the file, the 1-based line and column, and the offending source line so
    the CLI can point at the bad text with a caret.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str = "Dockerfile",
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
        hint: str | None = None,
    ):
        location = file if line is None else f"{file}:{line}"
        super().__init__(message, location=location, hint=hint)
        self.file = file
        self.line = line
        self.column = column
        self.source_line = source_line

    def render(self) -> str:
        """The message with the offending line and a caret under the bad column."""
        text = str(self)
        if self.source_line is not None:
            text += f"\n    {self.source_line}"
            if self.column is not None:
                text += "\n    " + " " * max(self.column - 1, 0) + "^"
        return text


class InvalidReferenceError(InputError):
    """An image reference that does not follow Docker's reference grammar."""


class InvalidDigestError(InputError):
    """A digest with an unknown algorithm or a malformed hex part."""


class ManifestError(InputError):
    """A manifest, index or config that is malformed or of an unexpected media type."""


class ArchiveError(InputError):
    """A tarball or image layout that is malformed or unsafe to extract."""


class BuildContextError(InputError):
    """A build context problem: a path leaving the context, a bad .dockerignore."""


class ConfigError(InputError):
    """A configuration file that cannot be read."""


class InvalidVersionError(InputError):
    """A package version that its ecosystem's version scheme cannot parse."""


class NotFoundError(DockyardError):
    """An image, tag, blob or stage that does not exist."""


class IntegrityError(DockyardError):
    """Content whose digest or size differs from what its descriptor promised."""


class StoreError(DockyardError):
    """The local store cannot be read or written."""


class RegistryError(DockyardError):
    """A registry operation that failed (after retries where retrying makes sense)."""


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached or kept failing with 5xx/429."""


class RegistryAuthError(RegistryError):
    """The registry refused every credential we could offer."""


class RegistryProtocolError(RegistryError):
    """The registry answered something that does not follow the distribution spec."""


class BuildError(DockyardError):
    """A build that could not complete."""


class StepFailedError(BuildError):
    """A RUN step exited with a non-zero status.

    Carries the command, its exit status ``returncode`` (None when it was stopped, e.g.
    by a timeout) and the last lines of its output, for the build's error report.
    """

    def __init__(
        self,
        message: str,
        *,
        command: tuple[str, ...] = (),
        returncode: int | None = None,
        output_tail: tuple[str, ...] = (),
        location: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message, location=location, hint=hint)
        self.command = command
        self.returncode = returncode
        self.output_tail = output_tail


class ExecutorUnavailableError(BuildError):
    """The executor (runc, overlayfs) is missing; the hint says what to install."""


class ScanError(DockyardError):
    """The vulnerability database or a cataloger failed."""


class PolicyViolationError(DockyardError):
    """A gate failed: severity threshold, size budget or lint failure level."""

    def __init__(
        self,
        message: str,
        *,
        exit_code: int = 1,
        location: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message, location=location, hint=hint)
        self.code = exit_code
