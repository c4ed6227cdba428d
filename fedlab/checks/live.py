"""Checks for assignment live (being written)."""
__all__ = []
