"""Template tags of the Vexil app: ``{% load vexil %}``."""
