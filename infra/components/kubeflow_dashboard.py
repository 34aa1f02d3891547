"""What Kubeflow's central dashboard links to: its menu, quick links and documentation, one entry per Kubeflow part,
written into the dashboard's `centraldashboard-config` ConfigMap with only the entries of the parts an environment
deploys. The entries are those of kubeflow/manifests 26.03 (`applications/centraldashboard/upstream/overlays/kserve`,
patches/configmap.yaml `links`), in its order; tests/test_kubeflow_complete.py compares them with that file."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from infra.platform.kustomize import json_patch

DASHBOARD_PART = "kubeflow-central-dashboard"
DASHBOARD_CONFIG = "centraldashboard-config"
LINKS_KEY = "links"


def _item(link: str, text: str, icon: str = "") -> dict[str, str]:
    return {**({"icon": icon} if icon else {}), "link": link, "text": text, "type": "item"}


PIPELINES_SECTION = {
    "icon": "kubeflow:pipeline-centered",
    "items": [
        _item("/pipeline/#/pipelines", "Pipelines"),
        _item("/pipeline/#/experiments", "Experiments"),
        _item("/pipeline/#/runs", "Runs"),
        _item("/pipeline/#/recurringruns", "Recurring Runs"),
        _item("/pipeline/#/artifacts", "Artifacts"),
        _item("/pipeline/#/executions", "Executions"),
    ],
    "text": "Pipelines",
    "type": "section",
}
# (part that serves the page, entry), in the dashboard's order.
MENU: tuple[tuple[str, dict[str, Any]], ...] = (
    ("kubeflow-jupyter-web-app", _item("/jupyter/", "Notebooks", "book")),
    ("kubeflow-tensorboards-web-app", _item("/tensorboards/", "TensorBoards", "assessment")),
    ("kubeflow-volumes-web-app", _item("/volumes/", "Volumes", "device:storage")),
    ("kubeflow-katib", _item("/katib/", "Katib Experiments", "kubeflow:katib")),
    ("kubeflow-models-web-app", _item("/kserve-endpoints/", "KServe Endpoints", "kubeflow:models")),
    ("kubeflow-pipelines", PIPELINES_SECTION),
)
QUICK_LINKS: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "kubeflow-jupyter-web-app",
        {"desc": "Kubeflow Notebooks", "link": "/jupyter/new", "text": "Create a new Notebook"},
    ),
    (
        "kubeflow-pipelines",
        {"desc": "Kubeflow Pipelines", "link": "/pipeline/#/pipelines", "text": "Upload a Pipeline"},
    ),
    ("kubeflow-pipelines", {"desc": "Pipelines", "link": "/pipeline/#/runs", "text": "View Pipeline Runs"}),
)
KUBEFLOW_DOCS = "https://www.kubeflow.org/docs/components"
DOCUMENTATION: tuple[tuple[str, dict[str, str]], ...] = (
    (DASHBOARD_PART, {"desc": "The Kubeflow website", "link": "https://www.kubeflow.org/", "text": "Kubeflow Website"}),
    (
        "kubeflow-pipelines",
        {
            "desc": "Documentation for Kubeflow Pipelines",
            "link": f"{KUBEFLOW_DOCS}/pipelines/",
            "text": "Kubeflow Pipelines Documentation",
        },
    ),
    (
        "kubeflow-jupyter-web-app",
        {
            "desc": "Documentation for Kubeflow Notebooks",
            "link": f"{KUBEFLOW_DOCS}/notebooks/",
            "text": "Kubeflow Notebooks Documentation",
        },
    ),
    (
        "kubeflow-training-operator",
        {
            "desc": "Documentation for Kubeflow Training Operator",
            "link": f"{KUBEFLOW_DOCS}/training/",
            "text": "Kubeflow Training Operator Documentation",
        },
    ),
    (
        "kubeflow-katib",
        {"desc": "Documentation for Katib", "link": f"{KUBEFLOW_DOCS}/katib/", "text": "Katib Documentation"},
    ),
)


def dashboard_links(parts: Collection[str]) -> dict[str, Any]:
    """The dashboard's `links` document with the entries of the deployed `parts` (catalog keys) only."""

    def kept(entries: tuple[tuple[str, Any], ...]) -> list[Any]:
        return [entry for part, entry in entries if part in parts]

    return {
        "menuLinks": kept(MENU),
        "externalLinks": [],
        "documentationItems": kept(DOCUMENTATION),
        "quickLinks": kept(QUICK_LINKS),
    }


def dashboard_patch(parts: Collection[str]) -> dict[str, Any]:
    """The kustomize patch that gives the dashboard those links. Upstream's document links every web app; written
    whole, it cannot point at a part an environment leaves out (the KServe endpoints without KServe)."""
    text = json.dumps(dashboard_links(parts), indent=4)
    return json_patch("ConfigMap", DASHBOARD_CONFIG, [{"op": "replace", "path": f"/data/{LINKS_KEY}", "value": text}])
