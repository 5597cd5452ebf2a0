"""Dataset adapters and the embedded default data."""
