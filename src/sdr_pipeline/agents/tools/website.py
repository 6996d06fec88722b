"""Fetch a lead's public website without becoming a proxy into our own network (SSRF).

Every hop (the first URL and each redirect) is checked the same way: http(s) only, a port in
1-65535, a host name made of valid DNS labels, the name resolved once, every address it
resolves to globally routable (no private, loopback, link-local, site-local, shared, reserved
or cloud metadata address, and no 6to4 or Teredo tunnel address that could carry us to one),
and the connection goes to the address we checked (pinned, with the original Host header and
TLS server name), so DNS cannot change its answer between check and connect. Time and size
are bounded. Every refusal or failure is an OutsideError with its reason, never a crash.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from sdr_pipeline.exceptions import (
    BadAnswerError,
    RefusedTargetError,
    ServiceTimeoutError,
    ServiceUnavailableError,
)

__all__ = ["Resolver", "WebPage", "WebsiteFetcher", "check_address", "check_host", "system_resolver"]

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves (host, port) to IP address strings; injectable so tests need no DNS."""

_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "fd00:ec2::254")
)
"""Cloud metadata and platform endpoints, refused even where they look public."""

_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
"""6to4 (RFC 3056, deprecated by RFC 7526): the IPv4 address it embeds is reached through a relay."""
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
"""IPv6 site-local (deprecated by RFC 3879, still routed inside some networks): Python calls it global."""
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
"""One DNS label once IDNA-encoded: letters, digits and inner hyphens, 1-63 characters."""

_READABLE_TYPES = ("text/html", "text/plain", "application/xhtml+xml")
_USER_AGENT = "sdr-pipeline-research/0.1 (+lead research; respects size and time limits)"


async def system_resolver(host: str, port: int) -> list[str]:
    """All addresses the system resolver gives for host:port (without blocking the event loop)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ServiceUnavailableError(f"cannot resolve {host} ({error.strerror})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_host(host: str) -> str | None:
    """None if `host` is an IP literal or a well-formed DNS name (at most 253 characters, labels of 1-63
    letters, digits and inner hyphens once IDNA-encoded), else why not."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return None
    name = host.rstrip(".")
    try:
        encoded = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return f"'{host[:80]}' is not a valid host name (an empty, over-long or unencodable label)"
    if not encoded or len(encoded) > 253:
        return f"'{host[:80]}' is not a valid host name (empty, or over 253 characters)"
    bad = next((label for label in encoded.split(".") if not _LABEL.match(label)), None)
    if bad is not None:
        return f"'{host[:80]}' is not a valid host name (label '{bad[:63]}' is not letters, digits and inner hyphens)"
    return None


def check_address(address: str) -> str | None:
    """None if `address` is a public unicast address we may connect to, else why not."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"'{address}' is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _SIX_TO_FOUR:
            return f"{ip} is a 6to4 address (it tunnels to {ip.sixtofour}), refused"
        if ip in _SITE_LOCAL:
            return f"{ip} is a site-local address"
        if ip.teredo is not None:
            return f"{ip} is a Teredo tunnel address, refused"
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    if ip in _METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    for flag in ("is_loopback", "is_link_local", "is_private", "is_multicast", "is_reserved", "is_unspecified"):
        if getattr(ip, flag):
            return f"{ip} is a {flag.removeprefix('is_').replace('_', '-')} address"
    if not ip.is_global:
        return f"{ip} is not a globally routable address"
    return None


@dataclass(frozen=True)
class WebPage:
    """What one fetch gave: readable text, cut to the size limit."""

    url: str
    """The URL asked for."""
    final_url: str
    """Where the redirects ended."""
    status_code: int
    text: str
    """Visible text of the page, whitespace collapsed."""
    truncated: bool
    """True if the body was longer than the size limit."""


class _TextExtractor(HTMLParser):
    """Visible text of an HTML page: no scripts, styles or markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript", "template", "svg"):
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "template", "svg") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _visible_text(body: str, content_type: str) -> str:
    if "html" in content_type:
        extractor = _TextExtractor()
        extractor.feed(body)
        body = " ".join(extractor.parts)
    return re.sub(r"\s+", " ", body).strip()


class WebsiteFetcher:
    """Fetch one public web page with SSRF checks on every hop, and time and size limits."""

    def __init__(self, *, timeout_s: float = 8.0, max_bytes: int = 300_000, max_redirects: int = 4,
                 resolver: Resolver = system_resolver, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._resolver = resolver
        self._transport = transport

    async def fetch(self, url: str) -> WebPage:
        """The page at `url`; raises an OutsideError naming the reason for any refusal or failure."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url)
        except TimeoutError:
            raise ServiceTimeoutError(f"fetching {url} took longer than {self.timeout_s:g} s") from None
        except httpx.HTTPError as error:
            raise ServiceUnavailableError(f"fetching {url} failed ({type(error).__name__}: {error})") from None

    async def _fetch(self, url: str) -> WebPage:
        timeout = httpx.Timeout(self.timeout_s)
        async with httpx.AsyncClient(transport=self._transport, timeout=timeout, follow_redirects=False,
                                     trust_env=False) as client:
            current = url
            for _hop in range(self.max_redirects + 1):
                request = await self._pinned_request(client, current)
                response = await client.send(request, stream=True)
                try:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise BadAnswerError(f"{current} redirects without a Location header")
                        try:
                            current = urljoin(current, location)
                        except ValueError as error:
                            raise BadAnswerError(f"{current[:200]} redirects to an unreadable Location "
                                                 f"{location[:200]!r} ({error})") from None
                        logger.debug("redirect to %s", current)
                        continue
                    return await self._read(url, current, response)
                finally:
                    await response.aclose()
            raise BadAnswerError(f"{url} redirects more than {self.max_redirects} times")

    async def _pinned_request(self, client: httpx.AsyncClient, url: str) -> httpx.Request:
        """A request to the checked address of `url`'s host, keeping the host name for Host and TLS."""
        shown = url[:200]
        try:
            parts = urlsplit(url)
            hostname, explicit_port = parts.hostname, parts.port
        except ValueError as error:  # a port out of 0-65535 or not a number, a broken IPv6 literal
            raise RefusedTargetError(f"refused {shown}: {error}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise RefusedTargetError(f"refused {shown}: only http and https URLs are fetched, not '{scheme or 'none'}'")
        host = hostname
        if not host:
            raise RefusedTargetError(f"refused {shown}: no host name")
        if parts.username or parts.password:
            raise RefusedTargetError(f"refused {shown}: credentials in the URL")
        if explicit_port == 0:
            raise RefusedTargetError(f"refused {shown}: port 0 is not a port one can connect to")
        problem = check_host(host)
        if problem:
            raise RefusedTargetError(f"refused {shown}: {problem}")
        port = explicit_port or (443 if scheme == "https" else 80)
        try:
            addresses = await self._resolver(host, port)
        except UnicodeError as error:
            raise RefusedTargetError(f"refused {shown}: {host[:80]} cannot be looked up ({error})") from None
        if not addresses:
            raise RefusedTargetError(f"refused {shown}: {host} resolves to no address")
        for address in addresses:
            problem = check_address(address)
            if problem:
                raise RefusedTargetError(f"refused {shown}: {host} resolves to {problem}")
        pinned = addresses[0]
        netloc = f"[{pinned}]:{port}" if ":" in pinned else f"{pinned}:{port}"
        target = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = f"[{host}]" if ":" in host else host
        if explicit_port is not None:
            host_header = f"{host_header}:{explicit_port}"
        return client.build_request(
            "GET", target,
            headers={"Host": host_header, "User-Agent": _USER_AGENT, "Accept": "text/html,text/plain;q=0.9"},
            extensions={"sni_hostname": host},
        )

    async def _read(self, url: str, final_url: str, response: httpx.Response) -> WebPage:
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.status_code >= 400:
            raise (ServiceUnavailableError if response.status_code >= 500 else BadAnswerError)(
                f"{final_url} answered HTTP {response.status_code}")
        if content_type and content_type not in _READABLE_TYPES:
            raise BadAnswerError(f"{final_url} is {content_type}, not a readable page")
        chunks: list[bytes] = []
        size = 0
        truncated = False
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes:
                truncated = True
                break
        body = b"".join(chunks)[: self.max_bytes]
        text = body.decode(response.encoding or "utf-8", errors="replace")
        return WebPage(url, final_url, response.status_code, _visible_text(text, content_type or "text/html"), truncated)
