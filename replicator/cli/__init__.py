"""The command line: what a person types and sees.

`app` is the Typer app (`app.py`); `options.py` declares every option once, in groups that
each build one value (a `Side`, a `Selection`, part of the `Settings`); `commands.py` holds
the commands, a few lines each; `session.py` runs one (event loop, signals, progress,
summary, exit codes); `advice.py` turns error kinds into what to do; `parsing.py` turns
option text into values.

The collector is off while the modules load (imports make many objects and free almost none:
collections then are work for nothing), and what they made is frozen, out of every later
collection's way.
"""

import gc

gc.disable()
try:
    from replicator.cli.app import app, main
finally:
    gc.freeze()
    gc.enable()

__all__ = ["app", "main"]
