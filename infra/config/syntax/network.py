"""IP addresses, networks, address ranges, host names and `host:port`, as Go's `net` package and the GCP APIs
read them (Python's `ipaddress` does the parsing)."""

from __future__ import annotations

import ipaddress
import re

from infra.config.syntax import FormatError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DOTTED_NUMBERS = re.compile(r"^[0-9.]+$")


def address(text: str) -> Address:
    """An IPv4 or IPv6 address. Zone suffixes (`%eth0`) are refused: Go's net.ParseIP does not take them."""
    if "%" in text:
        raise FormatError("a zone suffix (%...) is not allowed")
    try:
        return ipaddress.ip_address(text)
    except ValueError as error:
        raise FormatError(str(error)) from None


def network(text: str, *, version: int | None = None, host_bits: bool = False) -> Network:
    """A network in CIDR notation (`address/prefix`). `host_bits` admits an address inside the network
    (`10.0.0.5/24`), which Go's net.ParseCIDR takes; the GCP APIs want the network address itself."""
    if "/" not in text:
        raise FormatError("needs a /prefix length")
    host, prefix = text.split("/", 1)
    if not prefix.isdigit() or (len(prefix) > 1 and prefix.startswith("0")):
        raise FormatError(f"{prefix!r} is not a prefix length")
    parsed = address(host)
    if version is not None and parsed.version != version:
        raise FormatError(f"needs an IPv{version} network")
    try:
        net = ipaddress.ip_network(text, strict=not host_bits)
    except ValueError as error:
        raise FormatError(str(error)) from None
    return net


def address_range(text: str) -> tuple[Address, Address]:
    """`first-last`, both ends of one family, first <= last (spaces around the ends are ignored, as MetalLB
    does)."""
    start_text, _, end_text = text.partition("-")
    start, end = address(start_text.strip()), address(end_text.strip())
    if start.version != end.version:
        raise FormatError("both ends must be IPv4, or both IPv6")
    if int(start) > int(end):
        raise FormatError(f"starts at {start}, after its end {end}")
    return start, end


def address_pool(text: str) -> list[Network]:
    """A MetalLB address pool entry: a CIDR (host bits allowed, as MetalLB takes them) or a `first-last` range,
    as the networks it covers."""
    if "-" in text:
        start, end = address_range(text)
        return list(ipaddress.summarize_address_range(start, end))  # type: ignore[arg-type]
    return [network(text, host_bits=True)]


def hostname(text: str) -> str:
    """A DNS host name (letters, digits and hyphens in dot-separated labels of at most 63, 253 in all)."""
    name = text.removesuffix(".")
    if not name or len(name) > 253:
        raise FormatError("must have 1 to 253 characters")
    for label in name.split("."):
        if not _HOST_LABEL.match(label):
            raise FormatError(f"{label!r} is not a host name label (letters, digits, inner '-', at most 63)")
    if _DOTTED_NUMBERS.match(name):
        raise FormatError("looks like an IPv4 address but is not one")
    return text


def host(text: str) -> str:
    """A host name or an IP address."""
    if ":" in text or _DOTTED_NUMBERS.match(text):
        address(text)
        return text
    return hostname(text)


def host_port(text: str) -> tuple[str, int]:
    """`host:port`, with an IPv6 address in brackets (`[::1]:6379`), as Go's net.SplitHostPort reads it."""
    if text.startswith("["):
        inside, bracket, port = text[1:].partition("]:")
        if not bracket:
            raise FormatError("an IPv6 address needs the form [address]:port")
        if address(inside).version != 6:
            raise FormatError("only an IPv6 address goes in brackets")
        return inside, port_number(port)
    name, colon, port = text.rpartition(":")
    if not colon or not name:
        raise FormatError("needs the form host:port")
    if ":" in name:
        raise FormatError("an IPv6 address needs brackets: [address]:port")
    return host(name), port_number(port)


def port_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise FormatError(f"{text!r} is not a port from 1 to 65535")
    return int(text)
