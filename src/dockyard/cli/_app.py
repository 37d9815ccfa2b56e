"""The root ``dockyard`` command group and its error handling."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from dockyard import __version__
from dockyard.errors import (
    DockerfileError,
    DockyardError,
    NotImplementedYetError,
    PolicyViolationError,
)

# Command name -> the module that defines it. Modules are imported only when their
# command runs (or help lists it), so `dockyard build` never pays for the scanner.
COMMAND_MODULES = {
    "build": "dockyard.cli.build",
    "cache": "dockyard.cli.cache",
    "lint": "dockyard.cli.lint",
    "analyze": "dockyard.cli.analyze",
    "scan": "dockyard.cli.scan",
    "sbom": "dockyard.cli.scan",
    "db": "dockyard.cli.scan",
    "copy": "dockyard.cli.images",
    "inspect": "dockyard.cli.images",
    "pull": "dockyard.cli.images",
    "push": "dockyard.cli.images",
    "tag": "dockyard.cli.images",
    "images": "dockyard.cli.images",
    "rmi": "dockyard.cli.images",
    "dockerfile": "dockyard.cli.dockerfile",
}


class DockyardGroup(click.Group):
    """A group that loads its commands lazily and turns dockyard errors into one line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | (set(COMMAND_MODULES) if self is app else set()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name) if self is app else None
        if cmd_name not in self.commands and module is not None:
            importlib.import_module(module)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DockyardError as err:
            _report(err, debug=_debug(ctx))
            code = err.code if isinstance(err, PolicyViolationError) else err.exit_code
            ctx.exit(code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if _debug(ctx):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc} "
                "(run with --debug for the traceback, and please report it)",
                err=True,
            )
            ctx.exit(1)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("DOCKYARD_DEBUG", "") not in ("", "0")


def _report(err: DockyardError, *, debug: bool) -> None:
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    text = err.render() if isinstance(err, DockerfileError) else str(err)
    prefix = "not implemented" if isinstance(err, NotImplementedYetError) else "error"
    click.echo(f"{prefix}: {text}", err=True)


@click.group(cls=DockyardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-v", prog_name="dockyard")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
def app(debug: bool) -> None:
    """Dockyard builds, checks and ships container images, without a daemon."""
