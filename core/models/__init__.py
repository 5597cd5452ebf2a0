"""Backbones, heads and detector networks. Nothing here reads the registry: core.predictors builds a variant from these."""
