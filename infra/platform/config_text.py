"""A configuration file written as YAML text inside a manifest (a ConfigMap entry, a Helm value, a patch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


def yaml_text(data: Mapping[str, Any], *, sort_keys: bool = True) -> str:
    """A mapping of plain data as block-style YAML, as `yaml.safe_dump` writes it, by libyaml: PyYAML's own
    emitter is pure Python, and every stack writes these files again. The two agree on what configuration files
    hold (tests/test_config_text.py); they part on an empty key and on a bare scalar, which PyYAML ends with `...`."""
    return yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=sort_keys)
