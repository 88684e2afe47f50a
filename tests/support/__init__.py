"""What several test modules share: the servers they start (real Glance, real Keystone,
`replicator serve`, the stand-ins), the small clients that seed and inspect them, and the
helpers that run the CLI and read what it wrote. Nothing here is a test."""
