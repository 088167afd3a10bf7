"""Helpers shared by the jobs tests."""

from tests.waiting import wait_for

__all__ = ["wait_for"]
