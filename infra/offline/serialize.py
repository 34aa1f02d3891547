"""Turn recorded Pulumi inputs into plain, stable data: secrets masked, whole floats as ints, keys sorted."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import known_types, rpc

from infra.offline.yaml_text import dump_yaml, libyaml_dump

__all__ = ["COMPUTED", "MASK", "dump_yaml", "libyaml_dump", "plain"]

MASK = "[secret]"
COMPUTED = "[computed]"


def plain(value: Any, secret: bool = False) -> Any:
    if known_types.is_unknown(value):  # an output the engine did not answer, read in a preview
        return COMPUTED
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
