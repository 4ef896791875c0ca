"""Selectors: the code that reads. Querysets scoped to what a user may see."""
