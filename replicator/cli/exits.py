"""The exit codes of more than one module (the app reports a bug, the session ends a run),
here so that the app, which `--help` and `--version` load, needs no session to name them."""

#: A bug (BSD's EX_SOFTWARE), as `app.main` reports it.
EXIT_INTERNAL = 70
#: `--max-transfer` stopped the run from starting more (rclone's code for the same): the rest
#: is left for the next run. Images that failed make it 1 instead.
EXIT_MAX_TRANSFER = 8
