"""Helpers for testing code that uses Vexil: a client with no network and no threads."""

from vexil.sdk._testing import Evaluation, TestClient, Tracked, flag_for_value

__all__ = ["Evaluation", "TestClient", "Tracked", "flag_for_value"]
