"""Shared machinery under every study: the run store (rows, queue, checkpoint files, process liveness), the
recording of a run, the training loop, streams, distributed helpers and the launcher. Knows no study."""
