"""The root ``dockyard`` command group and its error handling."""

from __future__ import annotations

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


class DockyardGroup(click.Group):
    """A group that turns dockyard errors into one clear message and an exit code."""

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
