"""The documentation stays true: the generated environment pages are fresh, and every relative link in README.md
and docs/ leads to a file (and heading) that exists."""

from __future__ import annotations

import re
from pathlib import Path

from infra.expand.platform import Platform
from infra.gitops.environment_pages import PAGES, environment_page, page_path
from tests.conftest import ENV_NAMES

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def test_every_environment_page_is_fresh(platforms: dict[str, Platform]) -> None:
    for env, platform in platforms.items():
        assert page_path(env).read_text() == environment_page(platform), f"{env}: run `python -m infra.cli docs`"
    assert sorted(p.stem for p in PAGES.glob("*.md")) == sorted(ENV_NAMES), "a page without its environment"


def test_an_environment_page_shows_components_urls_and_secrets(platforms: dict[str, Platform]) -> None:
    page = environment_page(platforms["onprem"])
    assert "```mermaid" in page and "cert_manager --> harbor" in page
    assert "| harbor | harbor | 40 | `harbor` | https://helm.goharbor.io harbor |" in page
    assert "https://mlflow.ml.corp.example.net" in page
    assert "| `minio-root-config` | `minio` | `config.env` |" in page


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    text = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.MULTILINE)}


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def broken_links(path: Path) -> list[str]:
    text = CODE.sub("", path.read_text())
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no file {shown(destination)}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {shown(destination)}")
    return broken


def test_every_relative_link_in_the_docs_resolves() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted((REPO / "apps").rglob("*.md"))]
    broken = {str(p.relative_to(REPO)): links for p in pages if (links := broken_links(p))}
    assert broken == {}


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading\n")
    page.write_text("[ok](there.md#a-heading) [gone](missing.md) [bad](there.md#nowhere) `[code](skip.md)`\n")
    assert [link.split(":")[0] for link in broken_links(page)] == ["missing.md", "there.md#nowhere"]


def test_the_readme_is_an_entry_page_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme) <= 12_000, "README.md is the entry page: move detail to docs/"
    assert "make render" in readme and "make test" in readme
    linked = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    pages = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    assert sorted(pages - linked) == [], "every page of docs/ is reachable from the README"
