"""The Pulumi program: stack config -> Environment -> cluster layer -> platform components."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pulumi

from infra.cluster import ClusterFacts, build_cluster
from infra.cluster.facts import CLUSTER_LAYER
from infra.components import BOOTSTRAP, COMPONENTS
from infra.config import PROJECT, Environment, InvalidEnvironment, load_environment
from infra.platform.component import PlatformComponent, PlatformContext
from infra.platform.existing import EXISTING
from infra.platform.hub import delivery_of
from infra.platform.ordering import application_waves


def main() -> None:
    env = environment_from_stack_config()
    facts = build_cluster(env)
    deploy_platform(env, facts)


def environment_from_stack_config() -> Environment:
    raw = pulumi.Config(PROJECT).get_object("platform")
    try:
        return load_environment(raw, pulumi.get_stack())
    except InvalidEnvironment as error:
        # RunError ends the program with the message alone, before any resource is registered.
        raise pulumi.RunError(error.report()) from None


def deploy_platform(env: Environment, facts: ClusterFacts) -> None:
    enabled = [component for component in with_services(COMPONENTS, facts.services) if component.wanted(env, facts)]
    waves = application_waves({c.spec.name: c.requires(env) for c in enabled})
    delivery = delivery_of(env)
    # In hub mode Argo CD runs in the hub: nothing of it is installed, scraped or alerted on here.
    installed = enabled if delivery.hub else [BOOTSTRAP, *enabled]
    everything = [BOOTSTRAP, *enabled]
    ctx = PlatformContext(
        env=env,
        facts=facts,
        delivery=delivery,
        waves=waves,
        crd_owners={
            **{group: CLUSTER_LAYER for group in facts.crd_groups},
            **{entry: c.spec.name for c in everything for entry in c.spec.provides_crds},
            # The cluster's own installation, where the environment declares one, owns them instead.
            **{entry: EXISTING for c in COMPONENTS if c.existing(env) for entry in c.spec.provides_crds},
        },
        namespaces={c.spec.name: c.spec.namespace for c in installed},
        charts={c.spec.name: c.spec.charts or (c.spec.name,) for c in installed},
        components={c.spec.name: c for c in installed},
    )
    argocd = BOOTSTRAP(ctx)
    ctx = dataclasses.replace(ctx, bootstrap=argocd.bootstrap)
    built = [component(ctx) for component in sorted(enabled, key=lambda c: waves[c.spec.name])]
    # Routes to the UIs need the ingress and cert-manager, which may be built after the UI's component.
    for component in (argocd, *built):
        component.finish()


def with_services(
    components: Sequence[type[PlatformComponent]], services: Sequence[type[PlatformComponent]]
) -> list[type[PlatformComponent]]:
    """The target's cloud-service replacements placed right before the first component that depends on one
    of them (so it may use their CRDs), else after every component (so they may use monitoring's)."""
    names = {service.spec.name for service in services}
    first_user = next(
        (i for i, component in enumerate(components) if names & set(component.spec.depends_on)), len(components)
    )
    return [*components[:first_user], *services, *components[first_user:]]
