"""Which Kubeflow release works with which Istio, Knative, cert-manager, KServe and Kubernetes versions.

Kubeflow's manifests are released as one set tested together (kubeflow/manifests README at the tag). This
platform installs its own Istio, Knative, cert-manager and KServe instead of the bundled copies, usually newer
than the tested ones. Each dependency therefore has two bands, compared on minor versions:

- `tested`: what the Kubeflow release was tested with upstream;
- `allowed`: the inclusive minor range the platform accepts. Newer minors inside it are *untested but
  allowed*: they are the catalog defaults, whose APIs Kubeflow uses unchanged, and the Kubeflow
  Applications carry an advisory annotation naming every untested pair. Anything outside the range is
  rejected at validation (rules.kubeflow_versions_are_compatible): older minors lack APIs Kubeflow uses, and
  newer ones have not been assessed; widen the range here, deliberately, after trying them.

A part the release synchronizes from another project at that project's version (KServe's models web app) has bands
of its own too, and its Application carries its own advisory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from infra import catalog
from infra.config.errors import at

if TYPE_CHECKING:
    from infra.config import Environment

Minor = tuple[int, int]


@dataclass(frozen=True)
class Band:
    tested: Minor
    allowed: tuple[Minor, Minor]
    """Lowest and highest accepted minor, inclusive."""

    def accepts(self, version: Minor) -> bool:
        return self.allowed[0] <= version <= self.allowed[1]

    def describe(self) -> str:
        low, high = (_text(m) for m in self.allowed)
        return f"{low}-{high} (tested with {_text(self.tested)})"


@dataclass(frozen=True)
class PartBands:
    """A Kubeflow part synchronized from another project at its own version (e.g. KServe's models web app), tested
    there with the products it talks to, not with the rest of the Kubeflow release."""

    made_for: str
    """What upstream made the part for, in words, for reviewers."""
    dependencies: Mapping[str, Band]


@dataclass(frozen=True)
class KubeflowRelease:
    pipelines: str
    """KFP version inside the release, for reference."""
    dependencies: Mapping[str, Band]
    """By product: istio, knative, cert-manager, kserve, kubernetes."""
    parts: Mapping[str, PartBands] = field(default_factory=dict)
    """By catalog entry: the parts the release takes from another project's release, with bands of their own."""


MATRIX: dict[str, KubeflowRelease] = {
    # kubeflow/manifests 26.03 README: Istio 1.29.0, Knative 1.21.1, cert-manager 1.19.4, KServe 0.16.0,
    # KFP 2.16.0; its CI runs kind with Kubernetes 1.34.0.
    "26.03": KubeflowRelease(
        pipelines="2.16.0",
        dependencies={
            "istio": Band(tested=(1, 29), allowed=((1, 29), (1, 30))),
            "knative": Band(tested=(1, 21), allowed=((1, 21), (1, 23))),
            "cert-manager": Band(tested=(1, 19), allowed=((1, 19), (1, 21))),
            "kserve": Band(tested=(0, 16), allowed=((0, 16), (0, 20))),
            "kubernetes": Band(tested=(1, 34), allowed=((1, 32), (1, 35))),
        },
        parts={
            # kubeflow/manifests 26.03 applications/kserve/models-web-app: "Synchronize kserve models web
            # application manifests v0.16.1" (the release's last commit), image ghcr.io/kserve/models-web-app:0.16.1.
            # It reads InferenceServices as serving.kserve.io/v1beta1, still the one version the CRD of chart
            # kserve-crd v0.20.0 serves and stores; what else changed between KServe 0.16 and 0.20 is not assessed.
            "kubeflow-models-web-app": PartBands(
                made_for="KServe's models web app 0.16.1",
                dependencies={"kserve": Band(tested=(0, 16), allowed=((0, 16), (0, 20)))},
            ),
        },
    ),
}

# Catalog entries that carry a product's version (other components may split a product into several charts), in the
# order findings and advisories name them.
PRODUCT_OF_CATALOG_ENTRY = {
    "cert-manager": "cert-manager",
    "knative": "knative",
    "knative-operator": "knative",
    "istio": "istio",
    "istio-base": "istio",
    "istio-cni": "istio",
    "istiod": "istio",
    "istio-gateway": "istio",
    "kserve-crd": "kserve",
    "kserve": "kserve",
}


@dataclass(frozen=True)
class Finding:
    entry: str
    """Catalog entry (or `kubernetes`) whose version was compared."""
    version: str
    kubeflow: str
    band: Band
    accepted: bool
    part: str = ""
    """The Kubeflow part whose own band was compared (PartBands); empty: the release's band."""
    made_for: str = ""

    @property
    def product(self) -> str:
        return PRODUCT_OF_CATALOG_ENTRY.get(self.entry, self.entry)

    def message(self) -> str:
        verdict = "is not compatible with" if not self.accepted else "is untested with"
        if self.part:
            return (
                f"{self.product} {self.version} {verdict} {self.part} of Kubeflow {self.kubeflow} ({self.made_for}); "
                f"it accepts {self.product} {self.band.describe()}"
            )
        return (
            f"{self.product} {self.version} {verdict} Kubeflow {self.kubeflow}; "
            f"Kubeflow {self.kubeflow} accepts {self.product} {self.band.describe()}"
        )


def kubeflow_release(pins: Mapping[str, str]) -> str:
    """The Kubeflow release an environment deploys (every Kubeflow part follows the same tag)."""
    return pins.get("kubeflow-pipelines", catalog.CATALOG["kubeflow-pipelines"].version)


def kubeflow_entries() -> tuple[str, ...]:
    """The catalog entries of Kubeflow's parts (infra/components/kubeflow.py), which share one release tag."""
    return tuple(key for key in catalog.CATALOG if key.startswith("kubeflow-"))


def findings(
    pins: Mapping[str, str],
    kubernetes_version: str,
    products: set[str] | None = None,
    existing: Mapping[str, str] | None = None,
) -> Iterator[Finding]:
    """Every dependency version that differs from what the deployed Kubeflow release was tested with, then every one
    that differs from what a part with bands of its own (KubeflowRelease.parts) was tested with.

    `products` limits the comparison to the products the environment installs (None: all of them); `existing`
    gives the version of each product the cluster already runs, which replaces the catalog's and the pins'."""
    release = kubeflow_release(pins)
    known = MATRIX.get(release)
    if known is None:
        return
    yield from _compared(pins, kubernetes_version, products, existing, release, known.dependencies)
    for part, bands in known.parts.items():
        yield from _compared(
            pins, kubernetes_version, products, existing, release, bands.dependencies, part, bands.made_for
        )


def _compared(
    pins: Mapping[str, str],
    kubernetes_version: str,
    products: set[str] | None,
    existing: Mapping[str, str] | None,
    release: str,
    bands: Mapping[str, Band],
    part: str = "",
    made_for: str = "",
) -> Iterator[Finding]:
    entries = catalog.CATALOG
    versions = {key: pins.get(key, entries[key].version) for key in PRODUCT_OF_CATALOG_ENTRY if key in entries}
    versions["kubernetes"] = kubernetes_version
    for product, version in (existing or {}).items():
        versions = {key: v for key, v in versions.items() if PRODUCT_OF_CATALOG_ENTRY.get(key, key) != product}
        versions[product] = version
    seen: set[tuple[str, str]] = set()
    for entry, version in versions.items():
        product = PRODUCT_OF_CATALOG_ENTRY.get(entry, entry)
        if product not in bands or (products is not None and product not in products) or (product, version) in seen:
            continue
        seen.add((product, version))
        band = bands[product]
        minor = _minor(version)
        if minor != band.tested:
            yield Finding(entry, version, release, band, band.accepts(minor), part, made_for)


def advisories(
    pins: Mapping[str, str],
    kubernetes_version: str,
    products: set[str],
    part: str = "",
    existing: Mapping[str, str] | None = None,
) -> list[str]:
    """Untested-but-allowed combinations, as sentences for reviewers: the release's, or (`part`) those of a part's
    own bands."""
    return [
        f.message() for f in findings(pins, kubernetes_version, products, existing) if f.accepted and f.part == part
    ]


def _minor(version: str) -> Minor:
    major, minor = version.removeprefix("v").split(".")[:2]
    return int(major), int(minor)


def _text(minor: Minor) -> str:
    return f"{minor[0]}.{minor[1]}"


def existing_products(env: Environment) -> dict[str, tuple[str, str]]:
    """The compatibility-matrix products the cluster already runs: (config path of the version, version)."""
    components = env.components
    found = {}
    if env.ingress.provider == "istio" and components.istio.existing is not None:
        found["istio"] = (at("components", "istio", "existing", "version"), components.istio.existing.version)
    if components.cert_manager.enabled and components.cert_manager.existing is not None:
        found["cert-manager"] = (
            at("components", "certManager", "existing", "version"),
            components.cert_manager.existing.version,
        )
    return found


def existing_versions(env: Environment) -> dict[str, str]:
    """The version of each compatibility-matrix product the cluster already runs."""
    return {product: version for product, (_, version) in existing_products(env).items()}


def kubeflow_products(env: Environment) -> set[str]:
    """What runs next to Kubeflow in this environment and must fit its release."""
    products = {"istio", "knative", "kubernetes"}
    if env.components.cert_manager.enabled:
        products.add("cert-manager")
    if env.components.kserve.enabled:
        products.add("kserve")
    return products
