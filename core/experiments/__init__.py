"""One module per experiment: runs variants on a dataset and returns a Comparison."""
