"""Checks for assignment noniid (being written)."""
__all__ = []
