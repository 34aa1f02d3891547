"""On-prem target: an existing cluster reached by kubeconfig, with replacements for what a cloud gives.

Installed here (before Argo CD): the CNI. Named here and delivered by Argo CD with the platform components
(ClusterFacts.services): MetalLB (load balancer), MinIO (object storage, unless an S3 endpoint exists),
CloudNativePG (database), Harbor (registry, unless an existing one is used), NATS JetStream (event broker,
when asked for). Longhorn (block storage) is a
platform component of its own; its storage class names are fixed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.cni import ClusterNetwork
from infra.cluster.facts import PLATFORM_DATABASES, ClusterFacts, Database, EventBroker, ObjectStore, StorageClasses
from infra.config.derived import bucket_names
from infra.platform.secrets import ANY_NAMESPACE, SecretToCreate

if TYPE_CHECKING:
    from infra.config import Environment
    from infra.platform.component import PlatformComponent

MINIO_ENDPOINT = "http://minio.minio.svc.cluster.local"
OBJECT_STORE_CREDENTIALS = "object-store-credentials"
"""The S3 keys of the object store, one copy in each namespace whose workloads read it."""


def secrets_to_create(env: Environment) -> tuple[SecretToCreate, ...]:
    """What the cluster layer's facts name and the adopter creates: the object store's S3 keys."""
    purpose = (
        "the object store's S3 keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`; for Velero and Longhorn also "
        "an AWS credentials file under `cloud`), in each namespace that reads them"
    )
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "cloud")
    return (SecretToCreate(ANY_NAMESPACE, OBJECT_STORE_CREDENTIALS, keys, purpose),)


def build(env: Environment) -> ClusterFacts:
    assert env.onprem is not None  # guaranteed by rules.target_section_matches
    provider = k8s.Provider(
        "onprem",
        context=env.onprem.kubeconfig.context,
        # Only the path is passed: the provider reads the file where `pulumi up` runs. Marked secret anyway, so
        # state stays encrypted should someone paste kubeconfig contents into the setting.
        kubeconfig=pulumi.Output.secret(env.onprem.kubeconfig.path),
        enable_server_side_apply=True,
    )
    cni = ClusterNetwork(env, provider)
    services, database = _replacements(env)
    store = env.object_store
    registry = env.onprem.registry
    return ClusterFacts(
        target="onprem",
        provider=provider,
        storage=StorageClasses(default="longhorn", fast="longhorn-fast", shared="longhorn-rwx"),
        object_store=ObjectStore(
            kind="s3",
            endpoint=store.endpoint or MINIO_ENDPOINT,
            buckets=bucket_names(store.bucket_prefix, env.name),
            credentials="secret",
            credentials_secret=OBJECT_STORE_CREDENTIALS,
        ),
        registry=registry.url or f"harbor.{env.domain}",
        load_balancer="metallb",
        cni=env.onprem.cni,
        has_metrics_server=False,
        database=database,
        event_broker=_event_broker(env),
        ready=cni.releases,
        services=services,
    )


def _replacements(env: Environment) -> tuple[tuple[type[PlatformComponent], ...], Database]:
    """The replacement components and the database they provide (Harbor's too, when it is the registry).
    Imported here, when called: components import the cluster package, so a module-level import would be
    circular."""
    from infra.components import ONPREM_SERVICES, cloudnative_pg, harbor
    from infra.components.harbor import Harbor

    database = Database(
        kind="cloudnativepg",
        host=cloudnative_pg.HOST,
        credentials_secret=cloudnative_pg.APP_SECRET,
        credentials_namespace=cloudnative_pg.NAMESPACE,
        # Without External Secrets the copies are made by hand (docs/getting-started-onprem.md).
        credentials_store=cloudnative_pg.LOGIN_STORE if env.components.external_secrets.enabled else None,
        credentials_readers=cloudnative_pg.LOGIN_READERS,
        databases=(*PLATFORM_DATABASES, *((harbor.DATABASE,) if Harbor.enabled(env) else ())),
    )
    return ONPREM_SERVICES, database


def _event_broker(env: Environment) -> EventBroker | None:
    assert env.onprem is not None
    if env.onprem.eventing.broker == "none":
        return None
    from infra.components.nats import ENDPOINT  # see _replacements for why the import is here

    return EventBroker(kind="nats-jetstream", endpoint=ENDPOINT)
