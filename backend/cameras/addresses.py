"""Where a camera address may point: the rules that keep an ``rtsp://`` address from reaching the server's
own services or the cloud's metadata endpoint (server-side request forgery).

Two checks, both needed:

- :func:`validate_stream_address`, when an address is saved: ``rtsp`` or ``rtsps`` only, a host, no user
  name or password in it (they have their own fields, where the password is encrypted), no credentials in
  the query string, no control characters or spaces;
- :func:`vet_destination`, every time the address is used (saved, tested, connected to): the host is
  resolved and each of its addresses must be allowed. Refused: link-local (169.254.0.0/16, fe80::/10: cloud
  metadata lives there), multicast, unspecified, reserved and broadcast addresses, anything in
  ``SIGHTLINE.CAMERA_DENY_NETWORKS``, and loopback unless ``SIGHTLINE.CAMERA_ALLOW_LOOPBACK`` (on in the
  embedded default, whose test cameras run on the same machine; off once ``DATABASE_URL`` names a server).
  Private ranges are allowed: cameras live there. Checking again at connect time defeats DNS rebinding (a
  name that resolved to a camera when saved and to 127.0.0.1 later); plain ``rtsp://`` connections are then
  made to the vetted IP itself, so the name is not resolved a second time.

Refusals say which rule refused, never what (if anything) listens there.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError

#: Query keys that carry a credential: refused in a stored address (the password field is encrypted).
_SECRET_KEYS = frozenset({"password", "passwd", "pass", "pwd", "pw", "token", "secret", "key", "apikey", "api_key",
                          "auth", "authorization", "user", "username", "login"})
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(ValueError):
    """The address resolves to somewhere a camera may not be; the message says which rule refused it."""


class Unresolvable(DestinationRefused):
    """The host does not resolve (now): not a reason to refuse saving it, only to connect."""


def validate_stream_address(value: str) -> None:
    """Model validator: the syntax rules, then :func:`vet_destination` of the host as it resolves now."""
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        raise ValidationError("the address must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValidationError("not a valid address (the port must be a number between 1 and 65535)") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValidationError("the address must start with rtsp:// or rtsps://")
    if not parts.hostname:
        raise ValidationError("the address has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError("put the user name and password in their own fields, not in the address")
    if port is not None and not 0 < port < 65536:
        raise ValidationError("the port must be between 1 and 65535")
    if any(key.lower() in _SECRET_KEYS for key, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise ValidationError("put credentials in the user name and password fields, not in the query string")
    try:
        vet_destination(value)
    except Unresolvable:
        pass  # checked again whenever it is used
    except DestinationRefused as exc:
        raise ValidationError(str(exc)) from None


def _refusal(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    conf = settings.SIGHTLINE
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return None if conf.CAMERA_ALLOW_LOOPBACK else "this server itself (loopback)"
    if ip.is_reserved or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "a reserved address"
    for network in conf.CAMERA_DENY_NETWORKS:
        if ip.version == network.version and ip in network:
            return "a network this site does not allow cameras in"
    return None


def vet_destination(address: str) -> list[IPAddress]:
    """Resolve ``address``'s host and return its addresses, or raise :class:`DestinationRefused`."""
    parts = urlsplit(address)
    host = parts.hostname
    if not host:
        raise DestinationRefused("the address has no host")
    try:
        infos = socket.getaddrinfo(host, parts.port or DEFAULT_PORTS.get(parts.scheme, 554),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(f"the host {host!r} does not resolve") from None
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        reason = _refusal(ip)
        if reason:
            raise DestinationRefused(f"the address points to {reason}: cameras may not be reached there")
        if ip not in found:
            found.append(ip)
    if not found:
        raise Unresolvable(f"the host {host!r} does not resolve")
    return found


def pinned_url(url: str) -> str:
    """``url`` (credentials included) with its host vetted and, for ``rtsp://``, replaced by the vetted IP.

    ``rtsps://`` keeps the name (TLS checks the certificate against it); the check just before connecting
    still narrows a rebinding attack to the moment between the two resolutions.
    """
    ips = vet_destination(url)
    parts = urlsplit(url)
    if parts.scheme != "rtsp" or parts.hostname is None:
        return url
    ip = ips[0]
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = (f"{userinfo}@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
