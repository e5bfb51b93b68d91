"""Contract-faithful fake vendor servers for tests, the demo and benchmarks (loopback only)."""
