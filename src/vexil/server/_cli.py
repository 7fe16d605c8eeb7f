"""The server's commands: ``vexil serve``, ``vexil db upgrade``, ``vexil token create``,
``vexil import flagd`` and ``vexil export flagd`` (``_flagd_cli``).

Registered on the ``vexil`` command by ``vexil.cli``; imported only when used, so
the base install works without the ``server`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.config
import math
import socket
import sys
from collections.abc import Iterator
from typing import Any

from ._bootstrap import FirstStart, bootstrap
from ._bus import Hub
from ._db import make_engine, upgrade
from ._flagd_cli import register_commands as register_flagd_commands
from ._logging import config as logging_config
from ._settings import Settings
from ._store import Store


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings.load(
        {
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
            "database_url": getattr(args, "database", None),
        }
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ._app import create_app, drain

    settings = settings_from(args)
    log_config = logging_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    store = _store(settings)
    first = bootstrap(store, settings, demo=args.demo)
    store.engine.dispose()
    if first is not None:
        _print_first_start(settings, first)
    print(
        f"Vexil is running at {settings.base_url}/  (API docs: {settings.base_url}/api/docs)",
        flush=True,
    )
    app = create_app(settings)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await drain(app)  # first end the streams, which would hold the shutdown up
            await super().shutdown(sockets)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                # uvicorn raises the signal it caught again once it has stopped, so
                # that the process dies of it (status -15); a drained, clean stop
                # is a success, and exits 0.
                self._captured_signals.clear()

    server = Server(uvicorn_config(app, settings, log_config))
    # uvicorn re-raises the Ctrl-C it caught once it has stopped.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started else 1


def uvicorn_config(app: Any, settings: Settings, log_config: dict[str, Any]) -> Any:
    """uvicorn's configuration: the connection guard, timeouts, and trusted proxies."""
    import uvicorn

    from ._protocol import protocol_for

    proxies = settings.trusted_proxy_list
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config,
        timeout_graceful_shutdown=10,
        http=protocol_for(settings),
        timeout_keep_alive=math.ceil(settings.keep_alive_timeout),  # uvicorn takes whole seconds
        # X-Forwarded-For and -Proto are believed only from the proxies named; uvicorn
        # would otherwise believe any client on loopback.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        server_header=False,
    )


def _store(settings: Settings) -> Store:
    engine = make_engine(settings)
    upgrade(settings, engine)
    return Store(engine, Hub(), settings.change_log_size)


def _print_first_start(settings: Settings, first: FirstStart) -> None:
    lines = [
        "",
        "First start: created the project 'default' with its environments.",
        f"  Dashboard:  {settings.base_url}/",
        f"  Sign in as: {first.username}",
    ]
    if first.password:
        lines.append(f"  Password:   {first.password}   (shown once; change it after signing in)")
    else:
        lines.append("  Password:   from VEXIL_ADMIN_PASSWORD")
    for env, keys in first.keys.items():
        for key in keys:
            lines.append(f"  {env:<12} {key['kind']} key: {key['key']}")
    print("\n".join(lines) + "\n", flush=True)


def db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    upgrade(settings)
    print(f"the database at {_safe_url(settings.database_url)} is up to date")
    return 0


def token_create(args: argparse.Namespace) -> int:
    from ._access import create_token

    store = _store(settings_from(args))
    token = create_token(store, "cli", args.name, args.role, args.project)
    print(token["token"])
    print(
        f"(an API token with the {args.role} role; this is the only time it is shown)",
        file=sys.stderr,
    )
    return 0


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        rest = f"{creds.split(':')[0]}:***@{host}" if ":" in creds else rest
    return scheme + sep + rest


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def database(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--database",
            metavar="URL",
            help="sqlite:///PATH (default sqlite:///vexil.db) or postgresql://...; "
            "also VEXIL_DATABASE_URL",
        )

    p = commands.add_parser("serve", help="run the server", description="Run the Vexil server.")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; VEXIL_HOST)")
    p.add_argument("--port", type=int, help="port to listen on (default 8800; VEXIL_PORT)")
    database(p)
    p.add_argument("--demo", action="store_true", help="seed demo flags and segments")
    p.set_defaults(run=serve)

    db = commands.add_parser("db", help="database chores", description="Database chores.")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = db_commands.add_parser("upgrade", help="apply migrations", description="Apply migrations.")
    database(up)
    up.set_defaults(run=db_upgrade)

    token = commands.add_parser("token", help="API tokens", description="API tokens.")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_commands.add_parser(
        "create", help="create an API token", description="Create an API token and print it once."
    )
    create.add_argument("--name", required=True, help="what the token is for")
    create.add_argument("--role", choices=["viewer", "editor", "admin"], default="editor")
    create.add_argument("--project", help="limit the token to one project")
    database(create)
    create.set_defaults(run=token_create)

    register_flagd_commands(commands, database, lambda args: _store(settings_from(args)))
