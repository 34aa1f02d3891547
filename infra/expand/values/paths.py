"""Value key paths as text: `controller.resources`, and keys that are not plain words quoted in brackets:
`serviceAccount.annotations["iam.gke.io/gcp-service-account"]`, `grafana["grafana.ini"].server`."""

from __future__ import annotations

import json
import re

from infra.expand.values.reads import ValuePath

_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
_QUOTED = re.compile(r'\[("(?:[^"\\]|\\.)*")\]')


class BadPath(ValueError):
    pass


def format_path(path: ValuePath) -> str:
    text = ""
    for key in path:
        if _PLAIN.fullmatch(key):
            text += f".{key}" if text else key
        else:
            text += f"[{json.dumps(key)}]"
    return text


def joined(prefix: str, path: ValuePath) -> str:
    """`prefix` followed by `path`: `spec.source.helm.valuesObject` + `a["b.c"]`."""
    rest = format_path(path)
    if not rest:
        return prefix
    return f"{prefix}{rest}" if rest.startswith("[") else f"{prefix}.{rest}"


def parse_path(text: str) -> ValuePath:
    """The inverse of format_path; BadPath naming the text when it is not one."""
    keys: list[str] = []
    position = 0
    while position < len(text):
        if text.startswith("[", position):
            quoted = _QUOTED.match(text, position)
            key = json.loads(quoted.group(1)) if quoted else None
        elif text.startswith(".", position) and keys:
            quoted = _PLAIN.match(text, position + 1)
            key = quoted.group(0) if quoted else None
        elif position == 0:
            quoted = _PLAIN.match(text, position)
            key = quoted.group(0) if quoted else None
        else:
            quoted, key = None, None
        if quoted is None or key is None:
            raise BadPath(f'{text!r} is not a value key path (write a.b.c, and ["key.with.dots"] for other keys)')
        keys.append(key)
        position = quoted.end()
    if not keys:
        raise BadPath("an empty value key path")
    return tuple(keys)
