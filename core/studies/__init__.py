"""The studies: one package each, named as the user sees it."""
