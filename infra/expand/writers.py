"""Runtime writers: controllers that change fields of objects the platform applies, after each apply.

Argo CD compares what an Application renders with what the cluster holds. When a controller rewrites a field the
manifest sets (istiod flips a webhook's `failurePolicy` to `Fail`, an autoscaler changes `spec.replicas`), the
Application stays OutOfSync, and with self-heal Argo CD writes the rendered value back, the controller changes
it again, and neither ever settles. The same holds for the stack's own objects toward `pulumi up`.

This module is the table of such controllers the platform runs: which objects each touches, which fields, with
what, and where upstream says so. The `convergence` stage (infra/expand/convergence.py) applies every writer to
the expanded objects and compares them as Argo CD would; docs/delivery.md lists the table. A writer that only
adds a field the manifest leaves out (a `caBundle` no chart renders) changes nothing Argo CD compares: it is in
the table all the same, so that the day a chart starts rendering the field, the stage says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from infra.expand.platform import PlatformObject
from infra.expand.scope import group_of

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Generated:
    """A value only the running cluster knows (a CA bundle, a replica count): never what a manifest renders."""

    what: str

    def __str__(self) -> str:
        return f"<{self.what}>"


CA_BUNDLE = Generated("the CA bundle it issued")
REPLICAS = Generated("the replica count it scales to")
AGGREGATED_RULES = Generated("the rules of every ClusterRole its aggregationRule selects")


@dataclass(frozen=True)
class Touch:
    """One field of one object a writer sets, and the value it sets."""

    item: PlatformObject
    path: FieldPath
    value: Any


Finder = Callable[[Sequence[PlatformObject]], Iterator[Touch]]


@dataclass(frozen=True)
class Writer:
    key: str
    controller: str
    objects: str
    """Which objects it changes (for people; `find` is the rule)."""
    fields: str
    sources: tuple[str, ...]
    """Upstream code or documentation that shows the write."""
    remedy: str
    """What keeps an Application (or the stack) from fighting it, as upstream recommends."""
    find: Finder


VALIDATING = ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration")
MUTATING = ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
WEBHOOK_CONFIGURATIONS = (VALIDATING, MUTATING)
API_SERVICE = ("apiregistration.k8s.io", "APIService")
CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
CLUSTER_ROLE = ("rbac.authorization.k8s.io", "ClusterRole")
HPA = ("autoscaling", "HorizontalPodAutoscaler")
SCALED_OBJECT = ("keda.sh", "ScaledObject")
JOB = ("batch", "Job")
DEPLOYMENT = ("apps", "Deployment")
CONFIG_MAP = ("", "ConfigMap")

ISTIO_REVISION_LABEL = "istio.io/rev"
INJECTOR_SUFFIX = "sidecar-injector.istio.io"
CA_INJECTOR_ANNOTATIONS = (
    "cert-manager.io/inject-ca-from",
    "cert-manager.io/inject-ca-from-secret",
    "cert-manager.io/inject-apiserver-ca",
)
CERTGEN_IMAGE = "kube-webhook-certgen"
KEDA_API_SERVICE = "v1beta1.external.metrics.k8s.io"
KEDA_DEFAULT_WEBHOOK = "keda-admission"
ECK_CONFIG_KEY = "eck.yaml"
ECK_DEFAULT_WEBHOOK = "elastic-webhook.k8s.elastic.co"
ESO_WEBHOOK_LABEL = ("external-secrets.io/component", "webhook")
KNATIVE_OPERATOR_CRDS = ("knativeservings.operator.knative.dev", "knativeeventings.operator.knative.dev")
KNATIVE_CONVERSION_PATH = "/resource-conversion"
CONVERSION_CLIENT = ("spec", "conversion", "webhook", "clientConfig")


# --- reading objects -----------------------------------------------------------------------------------------------


def group_kind(item: PlatformObject) -> tuple[str, str]:
    return group_of(str(item.object.get("apiVersion", ""))), item.kind


def _metadata(item: PlatformObject, key: str) -> Mapping[str, Any]:
    value = (item.object.get("metadata") or {}).get(key)
    return value if isinstance(value, Mapping) else {}


def _mapping_at(obj: Mapping[str, Any], path: FieldPath) -> Mapping[str, Any] | None:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def webhook_fields(
    item: PlatformObject, field: FieldPath, where: Callable[[Mapping[str, Any]], bool] = lambda _: True
) -> Iterator[FieldPath]:
    """`webhooks[i].<field>` of each webhook (that `where` accepts) whose parent mapping exists."""
    webhooks = item.object.get("webhooks")
    for index, webhook in enumerate(webhooks if isinstance(webhooks, list) else []):
        if isinstance(webhook, Mapping) and where(webhook) and _mapping_at(webhook, field[:-1]) is not None:
            yield ("webhooks", index, *field)


def ca_bundle_fields(item: PlatformObject) -> Iterator[FieldPath]:
    """Where a CA injector writes its bundle in an object of this kind (nothing for other kinds, or a CRD without
    a conversion webhook: injectors leave those alone)."""
    kind = group_kind(item)
    if kind in WEBHOOK_CONFIGURATIONS:
        yield from webhook_fields(item, ("clientConfig", "caBundle"))
    elif kind == API_SERVICE and _mapping_at(item.object, ("spec",)) is not None:
        yield ("spec", "caBundle")
    elif kind == CRD and _mapping_at(item.object, CONVERSION_CLIENT) is not None:
        yield (*CONVERSION_CLIENT, "caBundle")


def _named(objects: Sequence[PlatformObject], kind: tuple[str, str], names: Sequence[str]) -> Iterator[PlatformObject]:
    return (item for item in objects if group_kind(item) == kind and item.name in names)


def containers(item: PlatformObject) -> list[Mapping[str, Any]]:
    """The containers of a workload's pod template (a Deployment's, a Job's)."""
    found = (_mapping_at(item.object, ("spec", "template", "spec")) or {}).get("containers")
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


def container_flags(container: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
    """A container's arguments, and its `--name=value` flags (`--name` alone: "true")."""
    args = [str(arg) for arg in container.get("args") or []]
    flags: dict[str, str] = {}
    for arg in args:
        if arg.startswith("--"):
            name, equals, value = arg[2:].partition("=")
            flags[name] = value if equals else "true"
    return args, flags


def _ca_touches(items: Iterator[PlatformObject]) -> Iterator[Touch]:
    for item in items:
        for path in ca_bundle_fields(item):
            yield Touch(item, path, CA_BUNDLE)


# --- the writers ---------------------------------------------------------------------------------------------------


def istiod_validation(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    for item in objects:
        if group_kind(item) == VALIDATING and ISTIO_REVISION_LABEL in _metadata(item, "labels"):
            for path in webhook_fields(item, ("clientConfig", "caBundle")):
                yield Touch(item, path, CA_BUNDLE)
            for path in webhook_fields(item, ("failurePolicy",)):
                yield Touch(item, path, "Fail")


def _injector(webhook: Mapping[str, Any]) -> bool:
    return str(webhook.get("name", "")).endswith(INJECTOR_SUFFIX)


def istiod_injector(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    for item in objects:
        if group_kind(item) == MUTATING and ISTIO_REVISION_LABEL in _metadata(item, "labels"):
            for path in webhook_fields(item, ("clientConfig", "caBundle"), _injector):
                yield Touch(item, path, CA_BUNDLE)


def cert_manager_ca_injector(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    asking = (item for item in objects if set(CA_INJECTOR_ANNOTATIONS) & set(_metadata(item, "annotations")))
    yield from _ca_touches(asking)


def webhook_certgen_patch(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    """kube-webhook-certgen's `patch` Job (a Helm hook of kube-prometheus-stack, ingress-nginx...): what it patches
    is read off its own arguments."""
    for job in objects:
        if group_kind(job) != JOB:
            continue
        for container in containers(job):
            args, flags = container_flags(container)
            if (
                CERTGEN_IMAGE not in str(container.get("image", ""))
                or not args
                or args[0] != "patch"
                or not flags.get("webhook-name")
            ):
                continue
            kinds = [
                kind
                for kind, flag in ((VALIDATING, "patch-validating"), (MUTATING, "patch-mutating"))
                if flags.get(flag, "true") != "false"
            ]
            for kind in kinds:
                for item in _named(objects, kind, [flags["webhook-name"]]):
                    for path in webhook_fields(item, ("clientConfig", "caBundle")):
                        yield Touch(item, path, CA_BUNDLE)
                    # Only `Fail` is written: the tool leaves the policy alone when the flag is empty or `Ignore`.
                    if flags.get("patch-failure-policy") == "Fail":
                        for path in webhook_fields(item, ("failurePolicy",)):
                            yield Touch(item, path, "Fail")
            if flags.get("apiservice-name"):
                yield from _ca_touches(_named(objects, API_SERVICE, [flags["apiservice-name"]]))


def keda_cert_rotation(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    for operator in objects:
        if group_kind(operator) != DEPLOYMENT:
            continue
        for container in containers(operator):
            _, flags = container_flags(container)
            if flags.get("enable-cert-rotation") != "true":
                continue
            if flags.get("enable-apiservice-patching", "true") != "false":
                yield from _ca_touches(_named(objects, API_SERVICE, [KEDA_API_SERVICE]))
            if flags.get("enable-webhook-patching", "true") != "false":
                webhook = flags.get("validating-webhook-name", KEDA_DEFAULT_WEBHOOK)
                yield from _ca_touches(_named(objects, VALIDATING, [webhook]))


def eck_webhook_certs(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    for config in objects:
        text = (config.object.get("data") or {}).get(ECK_CONFIG_KEY) if group_kind(config) == CONFIG_MAP else None
        if not isinstance(text, str):
            continue
        try:
            settings = yaml.safe_load(text)
        except yaml.YAMLError:
            settings = None
        # An unreadable configuration leaves the operator's defaults, which manage the certificates.
        settings = settings if isinstance(settings, Mapping) else {}
        if settings.get("enable-webhook", True) and settings.get("manage-webhook-certs", True):
            yield from _ca_touches(
                _named(objects, VALIDATING, [str(settings.get("webhook-name", ECK_DEFAULT_WEBHOOK))])
            )


def external_secrets_cert_controller(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    key, value = ESO_WEBHOOK_LABEL
    yield from _ca_touches(
        item for item in objects if group_kind(item) == VALIDATING and _metadata(item, "labels").get(key) == value
    )


def cloudnative_pg_operator(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    yield from _ca_touches(_named(objects, MUTATING, ["cnpg-mutating-webhook-configuration"]))
    yield from _ca_touches(_named(objects, VALIDATING, ["cnpg-validating-webhook-configuration"]))


def metallb_cert_rotation(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    yield from _ca_touches(_named(objects, VALIDATING, ["metallb-webhook-configuration"]))
    yield from _ca_touches(_named(objects, CRD, ["bgppeers.metallb.io"]))


def training_operator_cert_rotation(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    yield from _ca_touches(_named(objects, VALIDATING, ["validator.training-operator.kubeflow.org"]))


def knative_operator_conversion(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    for item in _named(objects, CRD, KNATIVE_OPERATOR_CRDS):
        client = _mapping_at(item.object, CONVERSION_CLIENT)
        if client is None:
            continue
        yield Touch(item, (*CONVERSION_CLIENT, "caBundle"), CA_BUNDLE)
        if isinstance(client.get("service"), Mapping):
            yield Touch(item, (*CONVERSION_CLIENT, "service", "path"), KNATIVE_CONVERSION_PATH)


def _scale_targets(
    objects: Sequence[PlatformObject], scaler: tuple[str, str], default_ref: Mapping[str, str]
) -> Iterator[Touch]:
    by_ref: dict[tuple[tuple[str, str], str, str], list[PlatformObject]] = {}
    for item in objects:
        by_ref.setdefault((group_kind(item), item.namespace, item.name), []).append(item)
    for item in objects:
        if group_kind(item) != scaler:
            continue
        ref = {**default_ref, **(_mapping_at(item.object, ("spec", "scaleTargetRef")) or {})}
        target_kind = (group_of(str(ref.get("apiVersion", ""))), str(ref.get("kind")))
        for target in by_ref.get((target_kind, item.namespace, str(ref.get("name"))), []):
            if _mapping_at(target.object, ("spec",)) is not None:
                yield Touch(target, ("spec", "replicas"), REPLICAS)


def hpa_controller(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    yield from _scale_targets(objects, HPA, {})


def keda_scaler(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    # KEDA's defaults for a ScaledObject's target (its scaleTargetRef reference).
    yield from _scale_targets(objects, SCALED_OBJECT, {"apiVersion": "apps/v1", "kind": "Deployment"})


def clusterrole_aggregation(objects: Sequence[PlatformObject]) -> Iterator[Touch]:
    for item in objects:
        if group_kind(item) == CLUSTER_ROLE and isinstance(item.object.get("aggregationRule"), Mapping):
            yield Touch(item, ("rules",), AGGREGATED_RULES)


CA_REMEDY = (
    "leave caBundle out of the manifest, or ignore it in the Application (an IgnoredDifference with "
    "RespectIgnoreDifferences=true)"
)
WRITERS: tuple[Writer, ...] = (
    Writer(
        "istiod-validation",
        "istiod (validation webhook controller)",
        "ValidatingWebhookConfigurations labelled `istio.io/rev` (istio-base's `istiod-default-validator`, istiod's "
        "`istio-validator-<namespace>`)",
        "every webhook's `clientConfig.caBundle`; `failurePolicy` to `Fail` once its webhook rejects a bad object",
        (
            "https://github.com/istio/istio/blob/master/pkg/webhooks/validation/controller/controller.go",
            "istiod and base charts 1.30, templates/validatingwebhookconfiguration.yaml and values.yaml "
            '`base.validationFailurePolicy` ("set to Fail to avoid the flip-flop")',
            "https://github.com/istio/istio/issues/52785",
        ),
        "values: `base.validationFailurePolicy: Fail` in istio-base and istiod (the charts then render `Fail`)",
        istiod_validation,
    ),
    Writer(
        "istiod-injector",
        "istiod (injection webhook patcher)",
        "MutatingWebhookConfigurations labelled `istio.io/rev` (`istio-sidecar-injector`)",
        "`clientConfig.caBundle` of each webhook named `*sidecar-injector.istio.io`",
        ("https://github.com/istio/istio/blob/master/pkg/webhooks/webhookpatch.go",),
        CA_REMEDY,
        istiod_injector,
    ),
    Writer(
        "cert-manager-cainjector",
        "cert-manager's CA injector",
        "webhook configurations, APIServices and CRDs annotated `cert-manager.io/inject-ca-from`, "
        "`inject-ca-from-secret` or `inject-apiserver-ca` (KServe, Kubeflow's webhooks, cert-manager's own)",
        "webhooks' `clientConfig.caBundle`; an APIService's `spec.caBundle`; a CRD's conversion "
        "`clientConfig.caBundle`",
        (
            "https://cert-manager.io/docs/concepts/ca-injector/",
            "https://github.com/cert-manager/cert-manager/blob/master/pkg/controller/cainjector/injectables.go",
        ),
        CA_REMEDY,
        cert_manager_ca_injector,
    ),
    Writer(
        "kube-webhook-certgen",
        "kube-webhook-certgen `patch` Job (kube-prometheus-stack's admission hooks)",
        "the webhook configurations (and APIService) its `--webhook-name` (`--apiservice-name`) names",
        "every webhook's `clientConfig.caBundle`; `failurePolicy` only with `--patch-failure-policy=Fail`",
        (
            "https://github.com/jkroepke/kube-webhook-certgen/blob/main/cmd/patch.go",
            "https://github.com/prometheus-community/helm-charts/issues/2516",
            "kube-prometheus-stack chart, templates/prometheus-operator/admission-webhooks/job-patch/"
            "job-patchWebhook.yaml",
        ),
        "values: `prometheusOperator.admissionWebhooks.failurePolicy` renders the webhooks and the Job's flag "
        "alike (helm-charts#2911); the pinned chart leaves it empty, so the Job writes no policy",
        webhook_certgen_patch,
    ),
    Writer(
        "keda-cert-rotation",
        "KEDA operator (certificate rotation)",
        "APIService `v1beta1.external.metrics.k8s.io` and the ValidatingWebhookConfiguration "
        "`--validating-webhook-name` (`keda-admission`), when run with `--enable-cert-rotation=true`",
        "`spec.caBundle`; every webhook's `clientConfig.caBundle`",
        (
            "https://github.com/kedacore/keda/blob/main/pkg/certificates/certificate_manager.go",
            "https://github.com/kedacore/keda/blob/main/cmd/operator/main.go",
        ),
        CA_REMEDY,
        keda_cert_rotation,
    ),
    Writer(
        "eck-webhook-certs",
        "ECK operator (`manage-webhook-certs`, on by default)",
        "the ValidatingWebhookConfiguration its `webhook-name` setting names",
        "every webhook's `clientConfig.caBundle`",
        ("https://www.elastic.co/guide/en/cloud-on-k8s/current/k8s-webhook.html",),
        CA_REMEDY,
        eck_webhook_certs,
    ),
    Writer(
        "external-secrets-cert-controller",
        "External Secrets cert-controller",
        "ValidatingWebhookConfigurations labelled `external-secrets.io/component: webhook`",
        "every webhook's `clientConfig.caBundle`",
        (
            "https://github.com/external-secrets/external-secrets/blob/main/pkg/controllers/webhookconfig/webhookconfig.go",
        ),
        CA_REMEDY,
        external_secrets_cert_controller,
    ),
    Writer(
        "cloudnative-pg-operator",
        "CloudNativePG operator",
        "`cnpg-mutating-webhook-configuration` and `cnpg-validating-webhook-configuration` (its defaults)",
        "every webhook's `clientConfig.caBundle`",
        (
            "https://github.com/cloudnative-pg/cloudnative-pg/blob/main/pkg/certs/k8s.go",
            "https://cloudnative-pg.io/documentation/current/operator_conf/",
        ),
        CA_REMEDY,
        cloudnative_pg_operator,
    ),
    Writer(
        "metallb-cert-rotation",
        "MetalLB controller (certificate rotation)",
        "`metallb-webhook-configuration` and CRD `bgppeers.metallb.io`",
        "every webhook's `clientConfig.caBundle`; the CRD's conversion `clientConfig.caBundle`",
        ("https://github.com/metallb/metallb/blob/main/internal/k8s/k8s.go",),
        CA_REMEDY,
        metallb_cert_rotation,
    ),
    Writer(
        "training-operator-cert-rotation",
        "Kubeflow training-operator (certificate rotation)",
        "`validator.training-operator.kubeflow.org`",
        "every webhook's `clientConfig.caBundle`",
        (
            "https://github.com/kubeflow/training-operator/blob/release-1.9/cmd/training-operator.v1/main.go",
            "https://github.com/kubeflow/training-operator/blob/release-1.9/pkg/cert/cert.go",
        ),
        CA_REMEDY,
        training_operator_cert_rotation,
    ),
    Writer(
        "knative-operator-conversion",
        "Knative operator webhook (CRD conversion reconciler)",
        "CRDs `knativeservings.operator.knative.dev` and `knativeeventings.operator.knative.dev`",
        "the conversion webhook's `clientConfig.caBundle` and `clientConfig.service.path` "
        f"(`{KNATIVE_CONVERSION_PATH}`)",
        (
            "https://github.com/knative/pkg/blob/main/webhook/resourcesemantics/conversion/reconciler.go",
            "https://github.com/knative/operator/blob/main/cmd/webhook/main.go",
        ),
        f"{CA_REMEDY}; keep the rendered path `{KNATIVE_CONVERSION_PATH}`",
        knative_operator_conversion,
    ),
    Writer(
        "hpa-controller",
        "HorizontalPodAutoscaler controller",
        "the Deployment or StatefulSet an HPA's `scaleTargetRef` names",
        "`spec.replicas`",
        (
            "https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"
            "#migrating-deployments-and-statefulsets-to-horizontal-autoscaling",
        ),
        "leave `spec.replicas` out of the manifest (charts do when autoscaling is on)",
        hpa_controller,
    ),
    Writer(
        "keda-scaler",
        "KEDA (the HPA it manages for each ScaledObject, and its own scaling to and from zero)",
        "the workload a ScaledObject's `scaleTargetRef` names (default: an apps/v1 Deployment)",
        "`spec.replicas`",
        (
            "https://keda.sh/docs/latest/reference/scaledobject-spec/",
            "https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"
            "#migrating-deployments-and-statefulsets-to-horizontal-autoscaling",
        ),
        "leave `spec.replicas` out of the manifest",
        keda_scaler,
    ),
    Writer(
        "clusterrole-aggregation",
        "Kubernetes ClusterRole aggregation controller",
        "ClusterRoles with an `aggregationRule` (Kubeflow's `kubeflow-admin`/`-edit`/`-view` and the roles "
        "they aggregate)",
        "`rules`",
        (
            "https://kubernetes.io/docs/reference/access-authn-authz/rbac/#aggregated-clusterroles",
            "https://argo-cd.readthedocs.io/en/stable/user-guide/diffing/#ignoring-rbac-changes-made-by-aggregateroles",
        ),
        "leave `rules` out of the manifest, or ignore `/rules` in the Application",
        clusterrole_aggregation,
    ),
)
WRITERS_BY_KEY: Mapping[str, Writer] = {writer.key: writer for writer in WRITERS}
