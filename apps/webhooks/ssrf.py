"""Outbound HTTP to user-supplied URLs without server-side request forgery.

`check_url()` validates a URL (http(s), a host, no credentials) and, unless private targets are
allowed, resolves its host and refuses it when ANY answer is not a public unicast address.
`safe_request()` sends a request the same way `requests.request()` does, but the connection is
opened to an address that was checked at connect time (the DNS answer is resolved once, checked,
and that very IP is connected to), so a DNS rebinding between check and connect cannot redirect it.
The Host header, TLS SNI and certificate verification keep using the URL's host name, because the
only thing replaced is how urllib3 opens the TCP socket (`HTTPConnection._new_conn`). Redirects
are never followed, and proxies from the environment are ignored (a proxy would be the address
checked instead of the target).

The jobs app's `http.request` handler uses the same two functions.
"""

import ipaddress
import re
import socket
import threading
import unicodedata
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import connection as urllib3_connection
from urllib3.util import parse_url

MAX_URL_LENGTH = 2048
# Explicit bidirectional formatting characters (embeddings, overrides, isolates).
_BIDI_CONTROLS = frozenset({"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"})
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
# NAT64 prefixes carry an IPv4 address in their last 32 bits.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURLError(ValueError):
    """A URL that must not be requested; `str(error)` is a message fit for an API client."""


class InvalidURLError(UnsafeURLError):
    def __init__(self, message: str = "must be a valid URL"):
        super().__init__(message)


class PrivateAddressError(UnsafeURLError):
    def __init__(self, message: str = "resolves to a private address"):
        super().__init__(message)


class UnresolvableHostError(UnsafeURLError):
    def __init__(self, message: str = "host does not resolve"):
        super().__init__(message)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses (and IPv6 forms embedding one)."""
    if (
        not address.is_global
        or address.is_private
        or address.is_reserved
        or address.is_multicast
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    return True


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            return False
        return host.endswith("]")
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.rstrip(".").split(".")
    return bool(labels) and len(ascii_host) <= 253 and all(_LABEL.match(x) for x in labels)


def parse_http_url(url: Any):
    """The parsed URL (urllib3's parser, the one requests uses) or InvalidURLError."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidURLError()
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in url):
        raise InvalidURLError()
    if any(unicodedata.bidirectional(ch) in _BIDI_CONTROLS for ch in url):
        raise InvalidURLError()  # displayed reversed: a URL that reads as another one
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise InvalidURLError() from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidURLError()
    if not url.lower().startswith(f"{parsed.scheme}://"):
        raise InvalidURLError()
    # Credentials in the URL invite parser confusion (`http://a@b`); use custom headers instead.
    if parsed.auth is not None or not _valid_host(parsed.host):
        raise InvalidURLError()
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise InvalidURLError()
    return parsed


def resolve_checked(host: str, port: int) -> list[tuple[int, tuple]]:
    """Resolve `host`; refuse it unless EVERY answer is a public address. Returns the answers."""
    host = host.strip("[]")
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnresolvableHostError() from None
    usable = [(family, sockaddr) for family, _, _, _, sockaddr in answers if family in (2, 10)]
    if not usable:
        raise UnresolvableHostError()
    for _, sockaddr in usable:
        try:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        except ValueError:
            raise PrivateAddressError() from None
        if not is_public_address(address):
            raise PrivateAddressError()
    return usable


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise an UnsafeURLError subclass unless `url` may be requested.

    With `allow_private` only the URL's shape is checked (no DNS lookup).
    """
    parsed = parse_http_url(url)
    if not allow_private:
        resolve_checked(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))


class _PinnedConnectionMixin:
    """Open the socket to a checked address of the host; everything else is urllib3's own."""

    def _new_conn(self):
        try:
            answers = resolve_checked(self._dns_host, self.port)
        except UnresolvableHostError as exc:
            raise NameResolutionError(self.host, self, socket.gaierror(str(exc))) from exc
        last_error: OSError | None = None
        for _, sockaddr in answers:
            try:
                return urllib3_connection.create_connection(
                    (sockaddr[0], self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PinnedAddressAdapter(HTTPAdapter):
    """A requests adapter whose connections only ever reach checked public addresses."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }


_sessions = threading.local()


def _session(allow_private: bool) -> requests.Session:
    """One pooled session per thread and policy: keep-alive connections are reused."""
    key = "open" if allow_private else "guarded"
    session = getattr(_sessions, key, None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        # Shared by every caller on this thread: never carry one receiver's cookies to the next.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        if not allow_private:
            adapter = PinnedAddressAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        setattr(_sessions, key, session)
    return session


def safe_request(
    method: str, url: str, *, allow_private: bool = False, **kwargs: Any
) -> requests.Response:
    """`requests.request()` for untrusted URLs: checked, IP-pinned, never redirected.

    Raises UnsafeURLError before anything is sent when the URL is refused, and the usual
    `requests` exceptions for network failures. Pass `timeout` (always).
    """
    parse_http_url(url)
    kwargs["allow_redirects"] = False
    try:
        return _session(allow_private).request(method, url, **kwargs)
    except requests.exceptions.ConnectionError as exc:
        # The pinned connection refused the address: report the policy, not a network error.
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, UnsafeURLError):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise
