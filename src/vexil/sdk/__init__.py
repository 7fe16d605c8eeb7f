"""The SDK: a client that evaluates flags locally, kept in sync with a Vexil server.

Import from ``vexil`` itself; this package's modules are private.
"""
