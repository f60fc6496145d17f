"""Which proxy a request goes through: ``proxy=`` and ``trust_env=``, or the environment.

One resolver for the API session and the storage clients, so that an API call and a
download of the same host always agree. The environment follows curl and requests:
``http_proxy``, ``https_proxy``, ``all_proxy`` and ``no_proxy``, each also in upper case,
the lower-case one winning (``urllib.request.getproxies_environment`` reads them). A
``no_proxy`` entry is a host (``example.com`` also matches its subdomains, a leading dot
is optional), a ``host:port``, ``*`` for everything, or an IP address or CIDR block.
Loopback addresses are not exempt: list ``localhost,127.0.0.1`` there to reach them
directly, as with curl and requests.

Proxy credentials (``http://user:secret@proxy:3128``) go only into a
``Proxy-Authorization`` header for the proxy; a :class:`ProxyURL` shows itself without them.
"""

from __future__ import annotations

import base64
import ipaddress
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

import attrs

__all__ = ["DIRECT", "ProxySettings", "ProxyURL", "resolve_proxy", "url_origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, the port defaulted from the scheme and
    the scheme and host in lower case; None for any other or unusable URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if not host or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


# The stdlib's no_proxy matcher, on every platform (typeshed leaves it undeclared).
_bypass: Callable[[str, Mapping[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]


@attrs.frozen(repr=False)
class ProxyURL:
    """An HTTP proxy, with its credentials kept out of ``repr``, ``str`` and messages.

    Attributes:
        host: The proxy's host name or IP address.
        port: Its port (3128 is the usual one; 80 when the URL names none).
        username: The user name for ``Proxy-Authorization``, if any.
        password: The password for ``Proxy-Authorization``, if any.
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str, *, source: str = "proxy") -> ProxyURL:
        """The proxy named by ``url``; a URL without a scheme means ``http://`` (as in curl).

        Args:
            url: ``http://[user:password@]host[:port]``.
            source: What named it (``"proxy="``, ``"HTTPS_PROXY"``), for the error message.

        Raises:
            ValueError: Not an ``http://`` proxy URL with a host. The message never holds
                the credentials.
        """
        text = url.strip()
        if "://" not in text:
            text = f"http://{text}"
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme != "http":
            raise ValueError(
                f"{source}: unsupported proxy scheme {scheme!r} (only http:// proxies are "
                "supported; pass proxy=... or trust_env=False to choose another way)"
            )
        try:
            host = parts.hostname
            port = parts.port
        except ValueError:
            host, port = None, None
        if not host:
            raise ValueError(f"{source}: not a usable proxy URL (http://host:port expected)")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(host, port or 80, username, password)

    @property
    def url(self) -> str:
        """``http://host:port``, without credentials: safe to show."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    @property
    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` value (Basic), or None without credentials."""
        if self.username is None:
            return None
        pair = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def __repr__(self) -> str:
        auth = ", with credentials" if self.username is not None else ""
        return f"ProxyURL({self.url!r}{auth})"

    def __str__(self) -> str:
        return self.url


def _matches_address(host: str, no_proxy: str) -> bool:
    """Whether ``host`` is an IP address inside an address or CIDR entry of ``no_proxy``.

    ``proxy_bypass_environment`` compares entries as text, which covers names and exact
    IPv4 addresses but neither CIDR blocks nor IPv6 addresses.
    """
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        try:
            network = ipaddress.ip_network(entry.strip().strip("[]"), strict=False)
        except ValueError:
            continue
        if address.version == network.version and address in network:
            return True
    return False


@attrs.frozen
class ProxySettings:
    """Where requests go: an explicit proxy, the environment's proxies, or straight out.

    Made once per client (:meth:`create` reads the environment then), asked per origin.

    Attributes:
        explicit: The proxy given as ``proxy=``; it applies to http and https URLs alike.
        by_scheme: The environment's proxies by URL scheme (``"http"``, ``"https"``); an
            ``all_proxy`` fills in the schemes that have none of their own.
        no_proxy: The environment's ``no_proxy`` list (applies to ``explicit`` too, as in
            curl), or None.
    """

    explicit: ProxyURL | None = None
    by_scheme: Mapping[str, ProxyURL] = attrs.field(factory=dict)
    no_proxy: str | None = None

    @classmethod
    def create(
        cls, proxy: str | ProxyURL | None = None, *, trust_env: bool = True
    ) -> ProxySettings:
        """The settings for ``proxy=`` and ``trust_env=``, reading the environment now.

        Args:
            proxy: A proxy for every request (``http://[user:password@]host:port``).
            trust_env: Whether the proxy environment variables apply.

        Raises:
            ValueError: ``proxy`` or an environment variable that would be used is not an
                ``http://`` proxy URL.
        """
        explicit = ProxyURL.parse(proxy, source="proxy=") if isinstance(proxy, str) else proxy
        if not trust_env:
            return cls(explicit)
        found = urllib.request.getproxies_environment()
        by_scheme: dict[str, ProxyURL] = {}
        for scheme in ("http", "https"):
            name = scheme if found.get(scheme) else "all"
            value = found.get(name)
            if value and explicit is None:
                by_scheme[scheme] = ProxyURL.parse(value, source=f"{name}_proxy")
        return cls(explicit, by_scheme, found.get("no") or None)

    def for_url(self, url: str) -> ProxyURL | None:
        """The proxy for ``url``, or None to connect directly (also for a URL that is not
        usable: the request then fails on its own terms)."""
        origin = url_origin(url)
        return None if origin is None else self.for_origin(*origin)

    def for_origin(self, scheme: str, host: str, port: int) -> ProxyURL | None:
        """The proxy for ``scheme://host:port``, or None to connect directly."""
        proxy = self.explicit or self.by_scheme.get(scheme)
        if proxy is None:
            return None
        no_proxy = self.no_proxy
        if no_proxy is not None:
            shown = f"[{host}]" if ":" in host else host
            if _bypass(f"{shown}:{port}", {"no": no_proxy}):
                return None
            if _matches_address(host, no_proxy):
                return None
        return proxy


DIRECT = ProxySettings()
"""No proxy for anything."""


def resolve_proxy(
    url: str, *, proxy: str | ProxyURL | None = None, trust_env: bool = True
) -> ProxyURL | None:
    """The proxy a request to ``url`` goes through, or None for a direct connection.

    Args:
        url: The request's URL.
        proxy: An explicit proxy (wins over the environment's, ``no_proxy`` still applies
            when ``trust_env``).
        trust_env: Whether ``http_proxy``/``https_proxy``/``all_proxy``/``no_proxy`` apply.

    Raises:
        ValueError: A proxy URL that would be used is not ``http://``.
    """
    return ProxySettings.create(proxy, trust_env=trust_env).for_url(url)
