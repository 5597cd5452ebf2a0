"""Backbones, heads and detector wrappers, built from registry variants."""
