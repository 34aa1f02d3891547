"""Turn recorded Pulumi inputs into plain, stable data: secrets masked, whole floats as ints, keys sorted."""

from __future__ import annotations

from typing import Any

import yaml
from pulumi.runtime import rpc

MASK = "[secret]"
COMPUTED = "[computed]"


def plain(value: Any, secret: bool = False) -> Any:
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return plain(value.get("value"), secret=True)
        return {str(key): plain(item, secret) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item, secret) for item in value]
    if isinstance(value, str):
        if value == rpc.UNKNOWN:
            return COMPUTED
        return MASK if secret else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# libyaml's emitter writes the same bytes as PyYAML's pure-Python one, about five times faster; the pure one is
# the fallback where PyYAML was built without libyaml.
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=120, allow_unicode=True)
