"""Integrations with other libraries; each module needs its extra."""

__all__: list[str] = []
