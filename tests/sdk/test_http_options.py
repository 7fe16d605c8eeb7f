"""HTTP options: TLS with a custom CA, verification, extra headers and a proxy."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trustme
from _sdk import Env

from vexil import Client, ConfigurationError, HttpOptions, Manual

KEY = "vx-srv-abcdefghijklmnop"
DOCUMENT = {
    "flags": {"f": {"type": "boolean", "variations": {"on": True, "off": False}, "default": "off"}}
}
USER = {"key": "u-1"}


class Recorder(BaseHTTPRequestHandler):
    """Answers the ruleset endpoint with DOCUMENT and remembers each request's headers."""

    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        body = json.dumps(DOCUMENT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https(ca: trustme.CA) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.seen = []  # type: ignore[attr-defined]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from serve(server)


def url_of(server: ThreadingHTTPServer) -> str:
    return f"https://127.0.0.1:{server.server_address[1]}"


def test_a_custom_ca_bundle_verifies_the_server(
    https: ThreadingHTTPServer, ca: trustme.CA, tmp_path: Any
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    options = HttpOptions(verify=str(bundle), headers={"X-Team": "checkout"})
    with Client(KEY, url=url_of(https), mode=Manual(), http=options, send_events=False) as client:
        assert client.variation("f", USER, True) is False
    headers = https.seen[0]  # type: ignore[attr-defined]
    assert headers["X-Team"] == "checkout"
    assert headers["Authorization"] == KEY
    assert headers["User-Agent"].startswith("vexil-python/")


def test_an_unknown_certificate_is_refused_without_raising(
    https: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    with Client(KEY, url=url_of(https), mode=Manual(), send_events=False) as client:
        assert not client.is_initialized
        assert client.variation("f", USER, "d") == "d"
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert https.seen == []  # type: ignore[attr-defined]


def test_verification_can_be_turned_off(https: ThreadingHTTPServer) -> None:
    options = HttpOptions(verify=False)
    with Client(KEY, url=url_of(https), mode=Manual(), http=options, send_events=False) as client:
        assert client.variation("f", USER, True) is False


def test_extra_headers_cannot_replace_the_key(https: ThreadingHTTPServer, ca: trustme.CA) -> None:
    with ca.cert_pem.tempfile() as bundle:
        options = HttpOptions(verify=bundle, headers={"Authorization": "something else"})
        with Client(KEY, url=url_of(https), mode=Manual(), http=options, send_events=False):
            pass
    assert https.seen[0]["Authorization"] == KEY  # type: ignore[attr-defined]


class Proxy(BaseHTTPRequestHandler):
    """A forward proxy for plain HTTP: fetches the absolute URL it is asked for."""

    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        upstream = httpx.get(self.path, headers={"Authorization": self.headers["Authorization"]})
        self.send_response(upstream.status_code)
        for name in ("Content-Type", "ETag", "X-Vexil-Revision"):
            if name in upstream.headers:
                self.send_header(name, upstream.headers[name])
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_requests_go_through_a_proxy(env: Env) -> None:
    env.flag_on("f")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.seen = []  # type: ignore[attr-defined]
    for proxy in serve(server):
        options = HttpOptions(proxy=f"http://127.0.0.1:{proxy.server_address[1]}")
        with Client(env.key, url=env.url, mode=Manual(), http=options, send_events=False) as c:
            assert c.variation("f", USER, False) is True
        assert proxy.seen == [f"{env.url}/sdk/v1/ruleset"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"proxy": "nope"}, "HttpOptions.proxy"),
        ({"proxy": "ftp://127.0.0.1:21"}, "HttpOptions.proxy"),
        ({"verify": "/nonexistent/ca.pem"}, "HttpOptions.verify"),
        ({"verify": 3}, "HttpOptions.verify"),
        ({"headers": {"bad name": "x"}}, "HttpOptions.headers"),
        ({"headers": {"X-Ok": "line\nbreak"}}, "HttpOptions.headers"),
        ({"headers": {"X-Num": 1}}, "HttpOptions.headers"),
        ({"connect_timeout": 0}, "HttpOptions.connect_timeout"),
        ({"read_timeout": "10"}, "HttpOptions.read_timeout"),
        ({"max_event_bytes": 1023}, "HttpOptions.max_event_bytes"),
        ({"max_event_bytes": 2**20 + 0.5}, "HttpOptions.max_event_bytes"),
        ({"max_event_bytes": True}, "HttpOptions.max_event_bytes"),
    ],
)
def test_malformed_http_options_raise_configuration_errors(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        HttpOptions(**options)
