"""Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity) and JVM heap sizes."""

from __future__ import annotations

import re
from decimal import Decimal

from infra.config.syntax import FormatError

_QUANTITY = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10**3), "M": Decimal(10**6)}
_DECIMAL |= {"G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15), "E": Decimal(10**18)}
_JVM_SIZE = re.compile(r"^(\d{1,12})([kmg])$")
# Kubernetes keeps quantities in 64-bit integers (of milli-units for CPU): anything larger does not fit.
_LARGEST = Decimal(2**63 - 1)
_EXPONENT_MAX = 30


def quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity: a number with a binary (Ki..Ei), decimal (m, k..E) or exponent (e3)
    suffix. Negative quantities are refused: no resource here can be negative."""
    match = _QUANTITY.match(text)
    if match is None:
        raise FormatError("needs a number and a Kubernetes unit: Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E")
    sign, number, suffix = match.group(1), Decimal(match.group(2)), match.group(3) or ""
    if sign == "-" and number != 0:
        raise FormatError("must not be negative")
    if suffix in _BINARY:
        value = number * _BINARY[suffix]
    elif suffix in _DECIMAL:
        value = number * _DECIMAL[suffix]
    elif len(suffix) > 4 or abs(int(suffix[1:])) > _EXPONENT_MAX:
        raise FormatError(f"the exponent {suffix} is beyond what Kubernetes stores")
    else:
        value = number * Decimal(10) ** int(suffix[1:])
    if value > _LARGEST:
        raise FormatError("is larger than Kubernetes can store (a 64-bit integer)")
    return value


def byte_size(text: str, *, zero: bool = False) -> Decimal:
    """A memory or storage size: a quantity of whole bytes (`100m` would be a tenth of a byte), larger than
    zero unless `zero` is allowed."""
    size = quantity(text)
    if size != size.to_integral_value():
        raise FormatError(f"is {size} bytes, not a whole number of bytes (m means milli, not mega)")
    if size == 0 and not zero:
        raise FormatError("must be larger than zero")
    return size


def cpu(text: str) -> Decimal:
    """CPU cores, larger than zero and no finer than a millicore (`0.5`, `500m`, `2`)."""
    cores = quantity(text)
    if cores <= 0:
        raise FormatError("must be larger than zero")
    if cores * 1000 != (cores * 1000).to_integral_value():
        raise FormatError("is finer than one millicore (1m = 0.001)")
    return cores


def jvm_size(text: str) -> int:
    """Bytes of a JVM heap option value (`512m`, `4g`), as -Xms/-Xmx read it; at least one megabyte."""
    match = _JVM_SIZE.match(text)
    if match is None:
        raise FormatError("needs a whole number and k, m or g, such as 512m or 4g")
    size = int(match.group(1)) * {"k": 2**10, "m": 2**20, "g": 2**30}[match.group(2)]
    if size < 2**20:
        raise FormatError("is below one megabyte, too small for any JVM heap")
    return size
