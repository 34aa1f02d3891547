"""Serverless and autoscaling: Knative Serving and Eventing, and KEDA."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.formats import (
    GoDuration,
    HostPort,
    ImageByDigest,
)
from infra.config.settings.common import Settings


class Autoscaling(Settings):
    scale_to_zero: bool = True
    """Let idle Knative services scale down to no pods (the activator buffers the first request)."""
    scale_to_zero_grace_period: GoDuration = "30s"
    """How long the last pod of an idle service is kept before it is removed, e.g. `30s`."""
    min_scale: Annotated[int, Field(ge=0, le=100)] = 0
    """Default lower bound of pods per revision; services may set their own."""
    max_scale: Annotated[int, Field(ge=0, le=1000)] = 0
    """Default upper bound of pods per revision; 0 means unbounded."""


class Eventing(Settings):
    enabled: bool = True
    """Install Knative Eventing (brokers, triggers, sources)."""
    broker_channel: Literal["cluster", "in-memory"] = "cluster"
    """What backs the default broker: `cluster` uses the event broker the cluster layer provides (NATS JetStream
    on-prem, `onprem.eventing.broker`) and falls back to the in-memory channel when it provides none;
    `in-memory` always uses it (events are lost on restart, fine for dev)."""


class Knative(Settings):
    enabled: bool = True
    """Install Knative through its operator: Serving (with the networking layer matching `ingress.provider`:
    net-istio for Istio, Kourier behind Traefik) and Eventing."""
    autoscaling: Autoscaling = Autoscaling()
    """Cluster-wide defaults of the Knative autoscaler."""
    eventing: Eventing = Eventing()
    """Knative Eventing."""


class ExampleWorker(Settings):
    enabled: bool = False
    """Declare an example queue-driven worker in namespace `ml-examples`: a Deployment that KEDA scales (from
    zero) on the length of a Redis list."""
    image: ImageByDigest = (
        "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a"
    )
    """Worker image, pinned by digest. The default is a placeholder that does nothing; use your worker's image."""
    redis_address: HostPort = "redis.ml-examples.svc.cluster.local:6379"
    """`host:port` of the Redis server holding the work queue."""
    list_name: Annotated[str, Field(min_length=1)] = "jobs"
    """Redis list the worker consumes."""
    items_per_replica: Annotated[int, Field(ge=1, le=10000)] = 5
    """Queue items per worker replica KEDA aims for."""
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10
    """Upper bound of worker replicas."""


class Keda(Settings):
    enabled: bool = True
    """Install KEDA for event-driven autoscaling of Deployments and Jobs (queues, streams, metrics)."""
    example_worker: ExampleWorker = ExampleWorker()
    """An example ScaledObject and the worker it scales."""
