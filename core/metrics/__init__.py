"""Pure metric functions: arrays in, dataclasses or DataFrames out. CLI: python -m core.metrics."""
