"""The Pulumi program: stack config -> Environment -> cluster layer -> platform components."""

from __future__ import annotations

import dataclasses

import pulumi

from infra.cluster import ClusterFacts, build_cluster
from infra.components import BOOTSTRAP, COMPONENTS
from infra.config import PROJECT, Environment, InvalidEnvironment, load_environment
from infra.platform.component import PlatformContext
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
    enabled = [component for component in COMPONENTS if component.enabled(env)]
    waves = application_waves({c.spec.name: c.requires(env) for c in enabled})
    everything = [BOOTSTRAP, *enabled]
    ctx = PlatformContext(
        env=env,
        facts=facts,
        waves=waves,
        crd_owners={entry: c.spec.name for c in everything for entry in c.spec.provides_crds},
        namespaces={c.spec.name: c.spec.namespace for c in everything},
        charts={c.spec.name: c.spec.charts or (c.spec.name,) for c in everything},
    )
    argocd = BOOTSTRAP(ctx)
    ctx = dataclasses.replace(ctx, bootstrap=argocd.bootstrap)
    built = [component(ctx) for component in sorted(enabled, key=lambda c: waves[c.spec.name])]
    # Routes to the UIs need the ingress and cert-manager, which may be built after the UI's component.
    for component in (argocd, *built):
        component.finish()
