"""Fixtures shared by the app tests."""

from tests.app.served import served

__all__ = ["served"]
