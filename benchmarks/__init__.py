"""The benchmarks, run from the repository root: `python -m benchmarks.run` (see README.md)."""
