"""Benchmarks: `python -m bench` writes bench/results.json and bench/RESULTS.md."""
