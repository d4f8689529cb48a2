"""Benchmarks for medclaim: ``python -m bench.run --claims N`` (see bench/README.md)."""
