"""Offline render through the CLI: determinism, exit codes, clean errors, normalisation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pulumi.runtime import rpc

from infra.cli.__main__ import main
from infra.offline.disk_writer import DiskWriter, WriterFailed
from infra.offline.render import Rendered, write
from infra.offline.serialize import COMPUTED, MASK, dump_yaml, plain

from .conftest import ENVIRONMENTS, REPO


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_is_byte_identical_between_runs(tmp_path: Path) -> None:
    args = ["render", "--env", "dev", "--env", "onprem", "--env", "prod"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert first == second
    assert "dev/inventory.yaml" in first and "onprem/manifests/_cluster/namespace-argocd.yaml" in first


def test_the_writer_process_writes_what_is_written_here(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    with DiskWriter() as writer:
        for stack in ("dev", "onprem"):
            assert write(rendered[stack], tmp_path / "by-process", writer) == tmp_path / "by-process" / stack
        write(rendered["dev"], tmp_path / "by-process", writer)  # again: replaces what was there
    for stack in ("dev", "onprem"):
        write(rendered[stack], tmp_path / "here")
    assert tree(tmp_path / "by-process") == tree(tmp_path / "here")


def test_shared_texts_cross_to_the_writer_once_and_are_linked_after(tmp_path: Path) -> None:
    """A fleet's expanded objects are the same text objects in every environment: written once, then hard links,
    and written in full again where the first copy is gone."""
    shared_text = "kind: CustomResourceDefinition\n" * 1000
    with DiskWriter() as writer:
        writer.write(tmp_path / "one", [("own.yaml", "a: 1\n")], [("expanded/crd.yaml", shared_text)])
        writer.write(tmp_path / "two", [("own.yaml", "a: 2\n")], [("expanded/crd.yaml", shared_text)])
    assert (tmp_path / "two/expanded/crd.yaml").read_text() == shared_text
    assert (tmp_path / "two/expanded/crd.yaml").stat().st_nlink == 2
    assert (tmp_path / "two/own.yaml").read_text() == "a: 2\n"
    with DiskWriter() as writer:
        writer.write(tmp_path / "three", [], [("expanded/crd.yaml", shared_text)])
        writer.write(tmp_path / "three", [], [])  # the first copy's directory is written again: gone
        writer.write(tmp_path / "four", [], [("expanded/crd.yaml", shared_text)])
    assert (tmp_path / "four/expanded/crd.yaml").read_text() == shared_text
    assert not (tmp_path / "three/expanded").exists()


def test_objects_become_their_yaml_in_the_writer_once_and_are_linked_after(tmp_path: Path) -> None:
    """Expanded objects cross as data and the writer writes the text the render would (dump_yaml), once for an
    object environments share."""
    shared = {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}, "data": {"a": "line\nother"}}
    awkward = {"": "an empty key, which only libyaml writes", "when": 1.5e-300}
    with DiskWriter() as writer:
        writer.write(tmp_path / "one", [], [("expanded/cm.yaml", shared), ("expanded/odd.yaml", awkward)])
        writer.write(tmp_path / "two", [], [("expanded/cm.yaml", shared)])
    assert (tmp_path / "one/expanded/cm.yaml").read_text() == dump_yaml(shared)
    assert (tmp_path / "one/expanded/odd.yaml").read_text() == dump_yaml(awkward)
    assert (tmp_path / "two/expanded/cm.yaml").stat().st_nlink == 2


def test_a_failed_write_is_an_error_naming_it_not_a_traceback(tmp_path: Path, capsys) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(WriterFailed, match="Not a directory"):
        with DiskWriter() as writer:
            writer.write(tmp_path / "a-file" / "dev", [("manifests/x.yaml", "a: 1\n")])
    assert main(["render", "--env", "dev", "--out", str(tmp_path / "a-file")]) == 1
    assert "Not a directory" in capsys.readouterr().err


def test_render_in_a_fresh_process_matches(tmp_path: Path) -> None:
    """The in-process render is the same as a fresh interpreter's (no state leaks between stacks)."""
    assert main(["render", "--out", str(tmp_path / "in-process")]) == 0
    subprocess.run(
        [sys.executable, "-m", "infra.cli", "render", "--env", "staging", "--out", str(tmp_path / "fresh")],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    assert tree(tmp_path / "in-process" / "staging") == tree(tmp_path / "fresh" / "staging")


def test_invalid_environment_exits_2_with_paths_and_writes_nothing(tmp_path: Path) -> None:
    envs = tmp_path / "environments"
    envs.mkdir()
    (envs / "Pulumi.good.yaml").write_text((ENVIRONMENTS / "Pulumi.dev.yaml").read_text())
    (envs / "Pulumi.bad.yaml").write_text(
        (ENVIRONMENTS / "Pulumi.dev.yaml").read_text().replace("provider: istio", "provider: nginx")
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "render", "--environments", str(envs), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "mlops-platform:platform.ingress.provider: 'nginx' is not allowed; allowed: istio, traefik" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_unknown_environment_is_an_error_not_a_traceback(capsys) -> None:
    assert main(["render", "--env", "nope", "--out", "/tmp/never"]) == 1
    err = capsys.readouterr().err
    assert "no stack file" in err and "Traceback" not in err


def test_secure_values_never_reach_the_output(tmp_path: Path) -> None:
    envs = tmp_path / "environments"
    envs.mkdir()
    text = (ENVIRONMENTS / "Pulumi.dev.yaml").read_text()
    (envs / "Pulumi.dev.yaml").write_text(
        text + "  mlops-platform:grafanaAdminPassword:\n    secure: AAABAJk1c2VjcmV0\n"
    )
    assert main(["render", "--environments", str(envs), "--out", str(tmp_path / "out")]) == 0
    rendered = "".join(p.read_text() for p in (tmp_path / "out").rglob("*.yaml"))
    assert "AAABAJk1c2VjcmV0" not in rendered


def test_nothing_rendered_is_left_unknown(rendered: dict[str, Rendered]) -> None:
    """The run is a preview, so a value the engine does not answer stays unknown. Every value of every object
    and resource input must be known offline: the program reads only what the engine answers (for Kubernetes
    objects, their identity: infra/offline/speedups.answered_outputs)."""
    for name, r in rendered.items():
        for manifest in r.manifests:
            assert COMPUTED not in dump_yaml(manifest.object), f"{name}: {manifest.path}"
        assert COMPUTED not in dump_yaml(r.inventory()), name


def test_plain_masks_secrets_and_restores_ints() -> None:
    wrapped = {rpc._special_sig_key: rpc._special_secret_sig, "value": {"password": "hunter2", "port": 5432.0}}
    assert plain({"a": 3.0, "b": 2.5, "s": wrapped}) == {"a": 3, "b": 2.5, "s": {"password": MASK, "port": 5432}}
    assert plain(rpc.UNKNOWN) == "[computed]"


plain_data = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["true", "1.34", "null", "~", "on", "a: b", "- x", "2026-12-02", "multi\nline\n", "#x"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


@given(st.dictionaries(st.text(max_size=6), plain_data, max_size=5))
def test_manifests_are_written_as_pyyaml_writes_them_and_read_back_unchanged(data: dict[str, Any]) -> None:
    written = dump_yaml(data)
    assert yaml.safe_load(written) == data
    options: dict[str, Any] = {"sort_keys": True, "default_flow_style": False, "width": 120, "allow_unicode": True}
    assert written == yaml.dump(data, Dumper=_PythonDumper, **options)


class _PythonDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's representers on the same emitter, with multi-line strings as blocks: dump_yaml builds the nodes
    itself and must match them byte for byte."""


_PythonDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)
