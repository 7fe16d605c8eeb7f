"""The package's version, in a module of its own so that any module can read it.

The facade imports the SDK, and the SDK's User-Agent needs the version: reading it from
here rather than from ``vexil`` keeps the import order free.
"""

__version__ = "0.1.0.dev0"
