"""Checks for assignment fedavg (being written)."""
__all__ = []
