"""The website fetcher refuses SSRF targets on the first hop and on every redirect, and keeps its limits.

The fetcher refuses loopback, so a real local server cannot be reached "honestly"; the
real-server cases inject a resolver that names a public address and a transport that
carries that one address to the local server, which exercises the real HTTP redirect path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sdr_pipeline.agents.tools import WebsiteFetcher, check_address
from sdr_pipeline.exceptions import OutsideError, RefusedTargetError, ServiceTimeoutError

pytestmark = pytest.mark.anyio

PUBLIC_IP = "93.184.215.14"


def resolver_for(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [host])  # an IP literal resolves to itself, as getaddrinfo does
    return resolve


class Recorder:
    """A mock transport answering from a route table and recording every request it was sent."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get(request.headers["host"] + request.url.path, httpx.Response(404))


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "169.254.1.1",
     "100.64.0.1", "0.0.0.0", "::1", "::ffff:127.0.0.1", "fd00::1", "fe80::1", "fd00:ec2::254", "168.63.129.16",
     "224.0.0.1", "240.0.0.1",
     "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:808:808::1",  # 6to4: tunnels to 127.0.0.1, metadata, or anywhere
     "fec0::1", "feff::1",  # site-local
     "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
     "64:ff9b::7f00:1"],  # NAT64 of 127.0.0.1
)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert check_address(address) is not None


@pytest.mark.parametrize("address", [PUBLIC_IP, "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert check_address(address) is None


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://10.0.0.7:8080/admin", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::1]/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 spelled as a number
        ("file:///etc/passwd", "only http and https"),
        ("ftp://files.example/x", "only http and https"),
        ("gopher://evil.example/", "only http and https"),
        ("http://user:pw@shop.example/", "credentials"),
        ("http://intranet.example/", "private"),
        ("http://mixed.example/", "private"),
        ("http://[2002:7f00:1::]/", "6to4"),
        ("http://sixtofour.example/", "6to4"),
        ("http://[fec0::1]/", "site-local"),
        ("http://shop.example:99999/", "Port out of range"),
        ("http://shop.example:-1/", "Port could not be cast"),
        ("http://shop.example:0/", "port 0"),
        ("http://[::1/", "Invalid IPv6 URL"),
        ("http://shop..example/", "not a valid host name"),
        (f"http://{'a' * 64}.example/", "not a valid host name"),
        ("http://-shop.example/", "label '-shop'"),
        ("http://sh_op.example/", "label 'sh_op'"),
        (f"http://{'a.' * 130}example/", "not a valid host name"),
    ],
)
async def test_refused_before_any_connection(url: str, phrase: str) -> None:
    recorder = Recorder({})
    fetcher = WebsiteFetcher(
        resolver=resolver_for({"intranet.example": ["10.0.0.5"], "mixed.example": [PUBLIC_IP, "192.168.0.2"],
                               "shop.example": [PUBLIC_IP], "2130706433": ["127.0.0.1"],
                               "sixtofour.example": ["2002:a9fe:a9fe::1"]}),
        transport=httpx.MockTransport(recorder),
    )
    with pytest.raises(RefusedTargetError, match=phrase):
        await fetcher.fetch(url)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("location", "phrase"),
    [
        ("http://metadata.example/latest/meta-data/", "metadata"),
        ("http://127.0.0.1:8080/admin", "loopback"),
        ("http://10.9.8.7/", "private"),
        ("file:///etc/passwd", "only http and https"),
    ],
)
async def test_redirect_to_a_private_address_is_refused(location: str, phrase: str) -> None:
    recorder = Recorder({"shop.example/": httpx.Response(302, headers={"location": location})})
    fetcher = WebsiteFetcher(resolver=resolver_for({"shop.example": [PUBLIC_IP], "metadata.example": ["169.254.169.254"]}),
                             transport=httpx.MockTransport(recorder))
    with pytest.raises(RefusedTargetError, match=phrase):
        await fetcher.fetch("http://shop.example/")
    assert len(recorder.requests) == 1  # the redirect target was never contacted


async def test_a_redirect_to_an_unreadable_location_is_refused_with_a_reason() -> None:
    recorder = Recorder({"shop.example/": httpx.Response(302, headers={"location": "http://shop.example:70000/x"})})
    fetcher = WebsiteFetcher(resolver=resolver_for({"shop.example": [PUBLIC_IP]}),
                             transport=httpx.MockTransport(recorder))
    with pytest.raises(OutsideError, match="Port out of range"):
        await fetcher.fetch("http://shop.example/")
    assert len(recorder.requests) == 1


async def test_a_bad_website_in_a_lead_is_a_fact_not_a_crash() -> None:
    from sdr_pipeline.agents.lead_ingestion import gather_facts
    from sdr_pipeline.agents.tools import ResearchTools, crm_lookup, enrichment_lookup
    from sdr_pipeline.contracts import LeadIngestionInput
    from sdr_pipeline.settings import Settings

    settings = Settings(_env_file=None)
    fetcher = WebsiteFetcher(resolver=resolver_for({}), transport=httpx.MockTransport(Recorder({})))
    tools = ResearchTools(crm=crm_lookup(settings), enrichment=enrichment_lookup(settings), website=fetcher)
    for website in ("https://shop.example:99999", "https://shop..example", "https://[2002:7f00:1::]"):
        lead = LeadIngestionInput(lead_id="l", produced_by="web_form", lead={"company_website": website})
        facts, sources = await gather_facts(lead, tools)
        assert facts["website"].startswith("not fetched: refused"), facts["website"]
        assert website not in sources


async def test_connection_is_pinned_to_the_checked_address() -> None:
    recorder = Recorder({"shop.example/": httpx.Response(200, html="<html><script>x()</script><p>Hello  shop</p></html>")})
    fetcher = WebsiteFetcher(resolver=resolver_for({"shop.example": [PUBLIC_IP]}), transport=httpx.MockTransport(recorder))
    page = await fetcher.fetch("https://shop.example")
    [request] = recorder.requests
    assert request.url.host == PUBLIC_IP and request.url.scheme == "https" and request.url.port in (None, 443)
    assert request.headers["host"] == "shop.example"
    assert request.extensions["sni_hostname"] == "shop.example"
    assert page.text == "Hello shop"


async def test_size_limit_and_other_refusals() -> None:
    recorder = Recorder({
        "shop.example/big": httpx.Response(200, text="a" * 1_000_000, headers={"content-type": "text/plain"}),
        "shop.example/pdf": httpx.Response(200, content=b"%PDF", headers={"content-type": "application/pdf"}),
        "shop.example/loop": httpx.Response(302, headers={"location": "/loop"}),
    })
    fetcher = WebsiteFetcher(max_bytes=10_000, max_redirects=3, resolver=resolver_for({"shop.example": [PUBLIC_IP]}),
                             transport=httpx.MockTransport(recorder))
    page = await fetcher.fetch("http://shop.example/big")
    assert page.truncated and len(page.text) <= 10_000
    with pytest.raises(OutsideError, match="not a readable page"):
        await fetcher.fetch("http://shop.example/pdf")
    with pytest.raises(OutsideError, match="more than 3"):
        await fetcher.fetch("http://shop.example/loop")


# --- over real HTTP, against a tiny local server ---------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://metadata.example/latest/meta-data/")
            self.end_headers()
        elif self.path == "/to-page":
            self.send_response(301)
            self.send_header("Location", "/page")
            self.end_headers()
        elif self.path == "/page":
            body = b"<html><body><h1>Acme Anvils</h1><p>Anvils for professionals.</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def local_site() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class _PublicToLocal(httpx.AsyncHTTPTransport):
    """Carries connections for the one fake public address to the local test server."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        assert request.url.host == PUBLIC_IP, "the fetcher connected somewhere it had not checked"
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await super().handle_async_request(request)


def _real_fetcher(port: int, **limits: float) -> tuple[WebsiteFetcher, _PublicToLocal]:
    transport = _PublicToLocal(port)
    resolver = resolver_for({"acme.example": [PUBLIC_IP], "metadata.example": ["169.254.169.254"]})
    return WebsiteFetcher(resolver=resolver, transport=transport, **limits), transport


async def test_real_redirect_to_metadata_is_refused(local_site: int) -> None:
    fetcher, transport = _real_fetcher(local_site)
    with pytest.raises(RefusedTargetError, match="metadata"):
        await fetcher.fetch("http://acme.example/to-metadata")
    assert transport.hosts == [PUBLIC_IP]


async def test_real_redirect_to_a_public_page_is_followed(local_site: int) -> None:
    fetcher, _transport = _real_fetcher(local_site)
    page = await fetcher.fetch("http://acme.example/to-page")
    assert page.final_url == "http://acme.example/page"
    assert page.text == "Acme Anvils Anvils for professionals."


async def test_real_slow_server_hits_the_time_limit(local_site: int) -> None:
    fetcher, _transport = _real_fetcher(local_site, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ServiceTimeoutError, match="longer than 0.5 s"):
        await fetcher.fetch("http://acme.example/slow")
    assert time.monotonic() - started < 2.5


async def test_real_loopback_is_refused_without_injection(local_site: int) -> None:
    with pytest.raises(RefusedTargetError, match="loopback"):
        await WebsiteFetcher().fetch(f"http://127.0.0.1:{local_site}/page")
    with pytest.raises(RefusedTargetError, match="loopback"):
        await WebsiteFetcher().fetch(f"http://localhost:{local_site}/page")
