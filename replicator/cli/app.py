"""The `replicator` command: its Typer app, and every error turned into one line and an exit code.

Errors are shown the same way however the app is called (the console script, `python -m
replicator`, or a test's `CliRunner`): a usage error, an unusable input, an interrupt, even a
bug, is one line on stderr and a code scripts can tell apart.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from replicator import __version__
from replicator.cli import commands
from replicator.cli.exits import EXIT_INTERNAL, EXIT_MAX_TRANSFER
from replicator.model.errors import RunError

#: A bug of ours: still one line, and a code of its own (BSD's EX_SOFTWARE): `exits.EXIT_INTERNAL`.


class OneLineErrors(TyperGroup):
    """The app's command group, whose `main` reports every error as one line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # The advice and the console view (and the engine's types under them) load only when
        # there is an error to show: `--version` and `--help` never need them.
        try:
            code = super().main(
                args,
                prog_name or "replicator",
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.TyperException as exc:  # usage errors: a bad option, a missing argument
            context = getattr(exc, "ctx", None)
            command = context.command_path if context else "replicator"
            from replicator.cli.views.console import printable

            if exc.format_message():  # empty when the help was shown instead
                print(f"replicator: error: {printable(exc.format_message())} (see '{command} --help')", file=sys.stderr)
            code = exc.exit_code
        except RunError as exc:  # input found unusable before the run started (the config file)
            from replicator.cli.advice import error_line

            print(error_line(exc), file=sys.stderr)
            code = 2
        except (typer.Abort, KeyboardInterrupt):
            print("replicator: interrupted", file=sys.stderr)
            code = 130
        except Exception as exc:
            from replicator.cli.views.console import printable

            print(f"replicator: internal error: {type(exc).__name__}: {printable(exc)}", file=sys.stderr)
            code = EXIT_INTERNAL
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


#: What exit status 1 means for each command ("images failed" means nothing to `size`).
_STATUS_1 = {
    "size": "ids asked for are not on the source",
    "compare": "compare found differences, or ids asked for are not on the source",
    "demo": "images failed",
}
_COPIES = ("dump", "load", "livecopy")


def exit_status(command: str | None = None) -> str:
    """Every exit code a command can end with, as its `--help` and the README list them
    (decided in `main` and `session.run`); None: the codes of every command."""
    one = _STATUS_1.get(command or "", "images failed, or ids asked for are not on the source")
    if command is None:
        one = "images failed, compare found differences, or ids asked for are not on the source"
    lines = [
        "Exit status:",
        "  0  done, or nothing to do" + (" (identical)" if command == "compare" else ""),
        f"  1  {one}",
        "  2  the run could not happen: bad usage or input, no Glance reached",
    ]
    if command is None or command in _COPIES:
        lines.append(
            f"  {EXIT_MAX_TRANSFER}  --max-transfer was reached: images were left for the next run (none failed)"
        )
    lines += ["130  interrupted (Ctrl-C); 143 stopped by SIGTERM; 129 by SIGHUP", " 70  an internal error (a bug)"]
    return "\n".join(lines)


EXIT_STATUS = exit_status()

app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Replicate images between OpenStack Glance services, fast: size, dump, load, livecopy, compare.",
    epilog=EXIT_STATUS,
)
for command in (commands.size, commands.dump, commands.load, commands.livecopy, commands.compare, commands.demo):
    app.command(epilog=exit_status(command.__name__))(command)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)(
    commands.serve
)


def _show_version(value: bool) -> None:
    if value:
        print(f"replicator {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_show_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Options of `replicator` itself, before the command."""


def main() -> None:
    """Console-script entry point (`replicator`, and `python -m replicator`).

    Once the command has returned, everything that matters is done (the run's report file is
    closed and its metrics file written inside the command): what is left is flushing the
    output and the log, then leaving without the interpreter's final collection and teardown
    of every module (a tenth of a second of CPU, for nothing). Where the output cannot be
    flushed (a closed pipe), the ordinary exit says so as before."""
    code = app(standalone_mode=False)
    code = code if isinstance(code, int) else 0
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
