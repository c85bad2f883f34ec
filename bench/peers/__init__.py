"""Helpers of the peer benchmarks: seeded data and one adapter per tool (run in worker processes)."""
