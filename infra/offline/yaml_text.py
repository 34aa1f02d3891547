"""Plain data as YAML text, with nothing but PyYAML and the project's emitter: the writer process
(infra/offline/disk_writer.py) imports it to turn expanded objects into files beside the render."""

from __future__ import annotations

from typing import Any

import yaml

from infra.offline import yaml_emitter

# libyaml's emitter, about five times faster than PyYAML's pure-Python one, which is the fallback where PyYAML
# was built without libyaml (the two differ only in corners the platform never renders, such as empty keys).
_Emitter = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_TAG = "tag:yaml.org,2002:"


def _node(value: Any) -> yaml.Node:
    """The YAML node of plain data: keys sorted, block style, multi-line strings as `|` blocks. What
    yaml.dump(sort_keys=True, default_flow_style=False) builds, without its per-value representer dispatch
    (a tenth of a render) and without anchors for repeated objects; whether a string needs quotes is still
    the serializer's decision."""
    kind = type(value)
    if kind is str:
        return yaml.ScalarNode(f"{_TAG}str", value, style="|" if "\n" in value else None)
    if kind is dict:
        pairs = [(_node(key), _node(value[key])) for key in sorted(value)]
        return yaml.MappingNode(f"{_TAG}map", pairs, flow_style=False)
    if kind is list:
        return yaml.SequenceNode(f"{_TAG}seq", [_node(item) for item in value], flow_style=False)
    if kind is bool:
        return yaml.ScalarNode(f"{_TAG}bool", "true" if value else "false")
    if kind is int:
        return yaml.ScalarNode(f"{_TAG}int", str(value))
    if value is None:
        return yaml.ScalarNode(f"{_TAG}null", "null")
    # Floats, and dates of a parsed YAML: PyYAML's own spelling (.inf, exponents, ISO dates). A representer of its
    # own each time, since a shared one remembers every object it saw (for anchors).
    return yaml.SafeDumper(None).represent_data(value)


def dump_yaml(data: Any) -> str:
    """Plain data (see `plain`) as a YAML document: by yaml_emitter where it can (most documents), else by libyaml;
    the two write the same bytes."""
    try:
        return yaml_emitter.dump(data)
    except yaml_emitter.Unsupported:
        return libyaml_dump(data)


def libyaml_dump(data: Any) -> str:
    return yaml.serialize(_node(data), Dumper=_Emitter, width=yaml_emitter.WIDTH, allow_unicode=True)
