"""The FastAPI lifespan and dependencies, through httpx and Starlette's test client."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from _frameworks import (
    boolean_flag,
    example,
    serving,
    targeting,
    vexil_threads,
    write_flags,
)
from fastapi import Depends, FastAPI, Header, Request

from _services import VexilServer, free_port, new_flag, sdk_key, toggle_on, wait_for
from vexil import Client, ConfigurationError
from vexil.integrations.fastapi import (
    Flags,
    RequestFlags,
    context_from_request,
    context_of_user,
    flag,
    flags_for,
    get_client,
    request_context,
    vexil_lifespan,
)
from vexil.testing import TestClient

pytestmark = pytest.mark.usefixtures("no_thread_left_behind")


def add_routes(app: FastAPI) -> FastAPI:
    """A page behind ``new-ui``, a handler reading flags, and one reporting a flag."""

    @app.get("/new", dependencies=[Depends(flag("new-ui"))])
    async def new() -> str:
        return "the new ui"

    @app.get("/home")
    async def home(flags: Flags) -> dict[str, Any]:
        detail = flags.detail("button-color", "blue")
        return {
            "new": flags.is_on("new-ui"),
            "color": flags.value("button-color", "blue"),
            "reason": detail.reason.value,
            "all": flags.all(),
            "context": dict(flags.context),
        }

    @app.get("/sync")
    def sync_home(on: Annotated[bool, Depends(flag("new-ui", required=False))]) -> dict[str, bool]:
        return {"new": on}

    return app


@pytest.fixture
def app(flags: TestClient) -> FastAPI:
    """An application whose client is set by hand (httpx's transport runs no lifespan)."""
    app = add_routes(FastAPI())
    app.state.vexil = flags
    return app


def get(app: FastAPI, path: str, **kwargs: Any) -> httpx.Response:
    """One request, made from an async function on an event loop, as a server would."""

    async def request() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await http.get(path, **kwargs)

    return asyncio.run(request())


def start_and_stop(app: FastAPI) -> None:
    """Run the application's lifespan, startup then shutdown, as a server does."""

    async def main() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(main())


# -------------------------------------------------------------- dependencies


def test_the_flag_dependency_answers_404_while_off(app: FastAPI, flags: TestClient) -> None:
    assert get(app, "/new").status_code == 404
    flags.set("new-ui", True)
    response = get(app, "/new")
    assert response.status_code == 200
    assert response.json() == "the new ui"


def test_the_flag_dependency_can_give_the_value_instead(app: FastAPI, flags: TestClient) -> None:
    assert get(app, "/sync").json() == {"new": False}
    flags.set("new-ui", True)
    assert get(app, "/sync").json() == {"new": True}


def test_the_flag_dependency_takes_another_status(flags: TestClient) -> None:
    app = FastAPI()
    app.state.vexil = flags

    @app.get("/pay", dependencies=[Depends(flag("payments", status_code=503))])
    async def pay() -> str:
        return "paid"

    assert get(app, "/pay").status_code == 503
    flags.set("payments", True)
    assert get(app, "/pay").json() == "paid"


def test_flags_evaluate_for_the_request_in_an_async_handler(
    app: FastAPI, flags: TestClient
) -> None:
    body = get(app, "/home").json()
    anonymous = {"key": "127.0.0.1", "anonymous": True, "ip": "127.0.0.1"}
    assert body == {
        "new": False,
        "color": "blue",
        "reason": "ERROR",  # no such flag: the default
        "all": {"new-ui": False},
        "context": anonymous,
    }

    flags.set("new-ui", True)
    flags.set("button-color", "green")
    body = get(app, "/home").json()
    assert (body["new"], body["color"], body["reason"]) == (True, "green", "STATIC")
    assert body["all"] == {"new-ui": True, "button-color": "green"}
    assert {e.key for e in flags.evaluations} == {"new-ui", "button-color"}
    assert all(e.context == anonymous for e in flags.evaluations)


def test_the_request_context_can_be_keyed_by_a_header_or_a_cookie(flags: TestClient) -> None:
    keyed = context_from_request(header="X-Visitor", cookie="visitor")
    app = FastAPI()
    app.state.vexil = flags

    @app.get("/new", dependencies=[Depends(flag("new-ui", context=keyed))])
    async def new() -> str:
        return "new"

    flags.set_flag("new-ui", targeting("v-1", "v-2"))
    assert get(app, "/new").status_code == 404
    assert get(app, "/new", headers={"X-Visitor": "v-1"}).status_code == 200
    assert get(app, "/new", headers={"Cookie": "visitor=v-2"}).status_code == 200
    header_first = get(app, "/new", headers={"X-Visitor": "v-3", "Cookie": "visitor=v-2"})
    assert header_first.status_code == 404
    assert flags.evaluations[-1].context == {"key": "v-3", "anonymous": True, "ip": "127.0.0.1"}


class User:
    def __init__(self, user_id: str, email: str) -> None:
        self.id = user_id
        self.email = email


USERS = {"token-ana": User("u-42", "ana@vexil.dev"), "token-bo": User("u-7", "bo@vexil.dev")}
CONTEXTS_BUILT: list[str] = []


async def current_user(authorization: Annotated[str | None, Header()] = None) -> User | None:
    """An application's own authentication dependency."""
    return USERS.get(authorization or "")


def user_context(user: Annotated[User | None, Depends(current_user)]) -> dict[str, Any]:
    """A context dependency built on it (a plain def: FastAPI takes both kinds)."""
    CONTEXTS_BUILT.append("built")
    return context_of_user(user, {"plan": "pro"})


UserFlags = Annotated[RequestFlags, Depends(flags_for(user_context))]


def test_a_context_dependency_with_dependencies_of_its_own_runs_once_per_request(
    flags: TestClient,
) -> None:
    app = FastAPI()
    app.state.vexil = flags

    @app.get("/beta", dependencies=[Depends(flag("new-ui", context=user_context))])
    async def beta(flags: UserFlags) -> dict[str, Any]:
        return {"beta": flags.value("beta-banner", "none"), "key": flags.context["key"]}

    flags.set_flag("new-ui", targeting("u-42"))
    flags.set("beta-banner", "welcome")
    assert get(app, "/beta").status_code == 404
    assert flags.evaluations[-1].context == {"key": "anonymous", "anonymous": True, "plan": "pro"}
    assert get(app, "/beta", headers={"Authorization": "token-bo"}).status_code == 404
    CONTEXTS_BUILT.clear()
    response = get(app, "/beta", headers={"Authorization": "token-ana"})
    assert response.json() == {"beta": "welcome", "key": "u-42"}
    assert CONTEXTS_BUILT == ["built"]  # two dependencies, one context
    assert flags.evaluations[-1].context == {"key": "u-42", "email": "ana@vexil.dev", "plan": "pro"}


def test_dependency_overrides_replace_the_default_context(app: FastAPI, flags: TestClient) -> None:
    flags.set_flag("new-ui", targeting("tester"))
    assert get(app, "/new").status_code == 404
    app.dependency_overrides[request_context] = lambda: {"key": "tester"}
    assert get(app, "/new").status_code == 200


def test_the_vexil_flags_fixture_takes_over_the_apps_client(
    app: FastAPI, flags: TestClient, vexil_flags: TestClient
) -> None:
    vexil_flags.set("new-ui", True)
    vexil_flags.set("button-color", "orange")
    assert get(app, "/new").status_code == 200
    assert get(app, "/home").json()["color"] == "orange"
    assert get(app, "/sync").json() == {"new": True}
    assert len(vexil_flags.evaluated("new-ui")) == 3
    assert flags.evaluations == []  # the application's own client was not asked


def test_the_vexil_flags_fixture_serves_an_app_without_a_client(vexil_flags: TestClient) -> None:
    vexil_flags.set("new-ui", True)
    assert get(add_routes(FastAPI()), "/new").status_code == 200


def test_without_a_client_the_error_says_how_to_give_one() -> None:
    with pytest.raises(RuntimeError, match=r"lifespan=vexil_lifespan"):
        get(add_routes(FastAPI()), "/new")


def test_get_client_is_a_dependency_too(app: FastAPI, flags: TestClient) -> None:
    @app.get("/revision")
    async def revision(client: Annotated[Client, Depends(get_client)]) -> dict[str, Any]:
        return {"same": client is flags}

    assert get(app, "/revision").json() == {"same": True}


# ------------------------------------------------------------------ lifespan


@pytest.mark.slow
def test_the_lifespan_makes_the_client_and_closes_it_at_shutdown(tmp_path: Path) -> None:
    path = write_flags(tmp_path / "flags.json", {"new-ui": boolean_flag(False)})
    app = add_routes(FastAPI(lifespan=vexil_lifespan(file=path, watch=True)))
    with serving(app) as http:
        client = app.state.vexil
        assert client.status == "polling"
        assert http.get("/new").status_code == 404
        write_flags(path, {"new-ui": boolean_flag(True, name="New UI")})
        wait_for(lambda: http.get("/new").status_code == 200, what="the edited file")
    assert client.status == "stopped"
    assert not any(t.name == "vexil-file" for t in vexil_threads())
    assert not hasattr(app.state, "vexil")


def test_the_lifespan_wraps_the_apps_own_lifespan(tmp_path: Path) -> None:
    path = write_flags(tmp_path / "flags.json", {"new-ui": boolean_flag(True)})
    seen: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        seen.append(f"own startup, flags ready: {app.state.vexil.is_initialized}")
        yield {"greeting": "hello"}
        seen.append(f"own shutdown, client {app.state.vexil.status}")

    app = add_routes(FastAPI(lifespan=vexil_lifespan(file=path, lifespan=own)))

    @app.get("/greet")
    async def greet(request: Request, flags: Flags) -> str:
        return f"{request.state.greeting}, new: {flags.is_on('new-ui')}"

    with serving(app) as http:
        client = app.state.vexil
        assert http.get("/greet").json() == "hello, new: True"
    assert seen == ["own startup, flags ready: True", "own shutdown, client idle"]
    assert client.status == "stopped"


def test_a_client_made_by_a_function_is_closed_and_a_given_one_is_not(tmp_path: Path) -> None:
    path = write_flags(tmp_path / "flags.json", {"new-ui": boolean_flag(True)})
    made: list[Client] = []

    def make() -> Client:
        made.append(Client.from_file(path))
        return made[-1]

    with serving(add_routes(FastAPI(lifespan=vexil_lifespan(client=make)))) as http:
        assert http.get("/new").status_code == 200
    assert made[0].status == "stopped"

    given = Client.from_file(path)
    try:
        with serving(add_routes(FastAPI(lifespan=vexil_lifespan(client=given)))) as http:
            assert http.get("/new").status_code == 200
        assert given.status == "idle"
    finally:
        given.close()


@pytest.mark.slow
def test_startup_awaits_the_flags_without_blocking_the_event_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens there: the client keeps trying, and never gets flags.
    lifespan = vexil_lifespan(
        "vx-srv-0123456789abcdef",
        url=f"http://127.0.0.1:{free_port()}",
        send_events=False,
        ready_timeout=2.0,
    )
    app = FastAPI(lifespan=lifespan)

    async def main() -> tuple[list[float], Client]:
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)  # the ticker's first tick
        async with app.router.lifespan_context(app):
            during_startup = list(ticks)
            client = app.state.vexil
            assert not client.is_initialized
        ticker.cancel()
        return during_startup, client

    with caplog.at_level(logging.WARNING, logger="vexil.fastapi"):
        ticks, client = asyncio.run(main())
    # Startup took two seconds; had it blocked the loop, the ticker would have stalled
    # for that long. It ticked on instead (the margin leaves room for a loaded machine).
    assert ticks[-1] - ticks[0] >= 1.9
    assert max(later - earlier for earlier, later in itertools.pairwise(ticks)) < 1.0
    assert "no flags after 2.0s" in caplog.text
    assert client.status == "stopped"


def test_a_client_that_cannot_be_made_fails_the_startup() -> None:
    app = FastAPI(lifespan=vexil_lifespan("vx-cli-0123456789abcdef"))
    with pytest.raises(ConfigurationError, match="client key"):
        start_and_stop(app)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sdk_key": "vx-srv-0123456789", "file": "flags.yaml"}, "pass one of file or sdk_key"),
        ({"client": Client.for_testing, "mode": "polling"}, "pass one of client or sdk_key"),
        ({"watch": True}, "watch: applies to file only"),
        ({"init_timeout": 3}, "init_timeout: vexil_lifespan waits with ready_timeout"),
        ({"timeout": 3}, "timeout: not a Client option"),
        ({"ready_timeout": -1}, "ready_timeout must be None or"),
        ({"ready_timeout": "5"}, "ready_timeout must be None or"),
        ({"client": "vx-srv-0123456789"}, "client must be a Client or a function"),
        ({"lifespan": "startup"}, "lifespan must be a lifespan function"),
    ],
)
def test_mistaken_lifespan_arguments_fail_at_once(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        vexil_lifespan(**arguments)


def test_a_function_that_returns_no_client_fails_the_startup() -> None:
    app = FastAPI(lifespan=vexil_lifespan(client=lambda: "a client"))  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="not a Client"):
        start_and_stop(app)


def test_the_example_application_follows_its_flag_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEXIL_SDK_KEY", raising=False)
    with example("fastapi") as module, serving(module.app) as http:
        assert http.get("/").json() == {"page": "home", "banner": "", "you": "anonymous"}
        staff = {"X-User": "staff"}
        assert http.get("/", headers=staff).json() == {
            "page": "new home",
            "banner": "Welcome back!",
            "you": "staff",
        }
        assert http.get("/dashboard").status_code == 404
        assert http.get("/dashboard", headers={"X-User": "ana"}).status_code == 200
        assert http.get("/flags", headers=staff).json()["why"] == "TARGETING_MATCH"


# -------------------------------------------------------- a real vexil serve


def test_a_toggle_on_the_server_reaches_the_next_requests(
    server: VexilServer, admin: httpx.Client, project: str
) -> None:
    new_flag(admin, project)
    lifespan = vexil_lifespan(
        sdk_key(admin, project), url=server.base_url, send_events=False, ready_timeout=10
    )
    app = add_routes(FastAPI(lifespan=lifespan))
    with serving(app) as http:
        client = app.state.vexil
        assert client.is_initialized
        assert client.status == "streaming"
        assert http.get("/new").status_code == 404  # a new flag is off

        toggle_on(admin, project)
        wait_for(lambda: http.get("/new").status_code == 200, what="the toggle to arrive")
        assert http.get("/home").json()["new"] is True
    assert client.status == "stopped"
