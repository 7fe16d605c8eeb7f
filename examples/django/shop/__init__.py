"""A small Django site whose pages follow Vexil flags."""
