"""The test suite. A package, so that the benchmarks start servers with the same helpers
(`tests.support.servers`) and every module imports the shared helpers by one name
(`from tests.support import ...`). Test modules never import one another: what two of them
share lives in `tests/support/` (`test_layout.py` checks it)."""
