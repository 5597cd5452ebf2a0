"""The feature-extraction study: layer taps, cached features, linear probes under k-fold CV, CKA, CDFG."""
