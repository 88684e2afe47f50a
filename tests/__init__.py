"""The test suite. A package, so that the benchmarks start servers with the same helpers
(`tests.servers`) and every module imports its siblings by one name (`from tests import ...`)."""
