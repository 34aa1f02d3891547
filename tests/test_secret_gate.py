"""The secret scan's line gate (infra/offline/secret_gate.py) changes how fast detect-secrets runs, never what it
reports: with and without the gate, detect-secrets' raw findings are the same, on this repository, on rendered
manifests, on a planted secret of every kind and on generated lines."""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from detect_secrets import SecretsCollection
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.settings import default_settings, get_plugins
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.offline.render import Rendered, write
from infra.offline.secret_gate import gated_scans, line_gate
from infra.offline.secrets import tracked_files

REPO = Path(__file__).resolve().parents[1]
LINE_COUNTER = "Line counter"
RawFinding = tuple[str, int, str, str]

# Each "·" is taken out at run time: it breaks every pattern, so this file itself holds no secret-shaped line.
PLANTED = [
    line.replace("·", "")
    for line in [
        'aws_access_key_id = "AKIA·Q3EGRJ5X·Z7WJHN2P"',
        'aws_sec·ret_access_key = "wJalrXUt·nFEMI/K7MDENG·/bPxRfiCY·EXAMPLEKEY"',
        "-----BEGIN RSA PRIVATE·KEY-----",
        "token: xo·xb-123456789012-123456·789012-abcdefghijkl·mnopqrstuvwx",
        "stripe = 'sk_li·ve_4eC39HqL·yjWDarjtT·1zdp7dc'",
        "GITHUB = gh·p_A1b2C3d4E5·f6G7h8I9j0K1·l2M3n4O5p6Q7r8",
        "url = 'https:·//admin:Tr0u·b4dor@db.example.com/app'",
        "jwt = ey·JhbGciOiJI·UzI1NiJ9.eyJzdWIiOi·IxIn0.c2lnbmF0dXJl",
        "twilio = S·K0123456·789abcdef01234·56789abcdef",
        "//registry.npmjs.org/:_auth·Token=00000000-1111-2222-3333-444444444444",
        "sendgrid = S·G.ngeVfQFYQl·KU0ufo8x5d1A.TwL2iGABf9·DHoTf-09kqeF8tA·mbihYzrnopKc-1s5cr",
        "mailchimp = '0123456·789abcdef0123·456789abcdef-us12'",
        'pass·word = "hunter2x"',
        "PASS·WORD: Tr0ub4dor&3xQ",
        'sec·ret("Tr0ub4dor&3xQ");',
        "'Tr0ub4dor&3xQ' == db_pa·ss",
        'db_pa·ss := "Tr0ub4dor&3xQ"',
        'api_·key => "Tr0ub4dor&3xQ"',
        "contrase·ña = 'Tr0ub4dor&3xQ'",
        'blob = "QmFzZTY0SGl·naEVudHJvcHlT·dHJpbmdYeVo5·OGFiY2Rl"',
        "digest = '9f86d08·1884c7d65·9a2feaa0c·55ad015a3·bf4f1b2b0·b822cd15d·6c15b0f00a08'",
        "number = '1234567890·1234567890·1234567890·1234567890'",
        "server = 8.8.·4.4",
        'pass·word = "hunter2x"  # pragma: allowlist secret',
        "# pragma: allowlist nextline secret",
        'pass·word = "hunter3x"',
        "pass·word = $DB_PASSWORD",
        "pass·word = {{ .Values.password }}",
    ]
]
SUFFIXES = [".py", ".yaml", ".json", ".md", ".sh", ".go", ".js", ".tf", ".cpp", ".cs", ".env", ".ini", ""]


def raw_findings(root: Path, names: Iterable[str], gated: bool) -> set[RawFinding]:
    """detect-secrets' own findings (before this project's allow-list and heuristics), with or without the gate."""
    collection = SecretsCollection(root=str(root))
    with default_settings():
        if gated:
            with gated_scans() as on:
                assert on, "the gate turned itself off for detect-secrets' default plugins"
                for name in names:
                    collection.scan_file(name)
        else:
            for name in names:
                collection.scan_file(name)
    return {
        (filename, secret.line_number, secret.type, secret.secret_hash)
        for filename, secrets in collection.data.items()
        for secret in secrets
    }


def assert_same_findings(root: Path, names: list[str]) -> set[RawFinding]:
    ungated = raw_findings(root, names, gated=False)
    assert raw_findings(root, names, gated=True) == ungated
    return ungated


def test_gate_is_on_for_the_default_plugins_and_off_for_a_plugin_it_does_not_know() -> None:
    class LineCounter(RegexBasedDetector):
        secret_type = LINE_COUNTER
        denylist = ()

        def analyze_line(self, *args: Any, **kwargs: Any) -> set[Any]:
            return set()

    with default_settings():
        plugins = get_plugins()
        gate = line_gate(plugins)
        assert gate is not None
        assert line_gate([*plugins, LineCounter()]) is None
    assert not gate("metadata:") and not gate("  name: cert-manager")
    assert gate(PLANTED[12])


def test_same_findings_on_the_repository(tmp_path: Path) -> None:
    names = [str(path.relative_to(REPO)) for path in tracked_files(REPO)]
    found = assert_same_findings(REPO, names)
    assert found, "the repository holds lines detect-secrets reports (allow-listed ones): the comparison needs them"


def test_same_findings_on_rendered_manifests(rendered: dict[str, Rendered], tmp_path: Path) -> None:
    manifests = write(rendered["onprem"], tmp_path) / "manifests"
    assert_same_findings(manifests, [str(p.relative_to(manifests)) for p in sorted(manifests.rglob("*.yaml"))])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_same_findings_on_planted_secrets(tmp_path: Path, suffix: str) -> None:
    name = f"planted{suffix}"
    (tmp_path / name).write_text("\n".join(PLANTED) + "\n")
    found = assert_same_findings(tmp_path, [name])
    assert len({kind for _, _, kind, _ in found}) >= 8, found


FRAGMENTS = [
    *("pass" + "word", "PASS" + "WORD", "sec" + "ret", "api_" + "key", "db_pa" + "ss", "pw" + "d", "priv_key"),
    *(" ", "=", ":", ":=", "==", "!=", "=>", "(", ")", ";", "@", '"', "'", "`", "[]", ".assign", "$", "{{", "}}"),
    *("AKIA", "xo" + "xb-", "sk" + "_live_", "gh" + "p_", "ey" + "J", "https://u:", "@h.io", "SK", "-us1", "SG."),
    *("8.8.", "10.0.", "# pragma: allowlist secret", "-----BEGIN ", "PRIVATE KEY-----"),
]
TOKENS = st.text(alphabet=string.ascii_letters + string.digits + "+/=-_.", min_size=1, max_size=48)
LINES = st.lists(st.one_of(st.sampled_from(FRAGMENTS), TOKENS), max_size=8).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINES, min_size=1, max_size=6), suffix=st.sampled_from(SUFFIXES))
def test_same_findings_on_generated_lines(tmp_path: Path, lines: list[str], suffix: str) -> None:
    name = f"generated{suffix}"
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    assert_same_findings(tmp_path, [name])
