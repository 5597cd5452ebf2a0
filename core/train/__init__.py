"""Freeze strategies, the training loop that yields events, and the run store."""
