"""The RUN executor: a RunSpec run with runc over a mounted snapshot."""

from dockyard.build.executor.runc import OutputCallback, check_executor, find_runc, run
from dockyard.build.executor.spec import (
    BindMount,
    Mount,
    NetworkMode,
    RunResult,
    RunSpec,
    SecretMount,
    TmpfsMount,
    oci_config,
)
from dockyard.build.executor.users import ResolvedUser, resolve_user

__all__ = [
    "BindMount",
    "Mount",
    "NetworkMode",
    "OutputCallback",
    "ResolvedUser",
    "RunResult",
    "RunSpec",
    "SecretMount",
    "TmpfsMount",
    "check_executor",
    "find_runc",
    "oci_config",
    "resolve_user",
    "run",
]
