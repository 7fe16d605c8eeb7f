"""The server's routers: ops (health, metrics), admin API, SDK endpoints, OFREP."""
