"""Pub/Sub topics for event-driven workloads, and the `eventing` identity allowed to use exactly those topics."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.cluster.facts import EventBroker
from infra.cluster.gcp_identity import EVENTING, workload_account
from infra.config.settings.cluster import GkeCluster

MESSAGE_RETENTION = "604800s"  # 7 days: a consumer that was down for a weekend still gets its events
TOPIC_ROLES = ("roles/pubsub.publisher", "roles/pubsub.subscriber")


def build_pubsub(
    gke: GkeCluster, after: pulumi.Resource, opts: pulumi.ResourceOptions
) -> tuple[EventBroker | None, dict[str, pulumi.Output[str]]]:
    """The broker fact and the eventing identity (by workload name), or nothing when no topic is asked for."""
    if not gke.pubsub_topics:
        return None, {}
    account, member = workload_account("eventing", EVENTING, gke.project, after, opts)
    topics: dict[str, pulumi.Input[str]] = {}
    for name in gke.pubsub_topics:
        topic = gcp.pubsub.Topic(
            name, name=name, project=gke.project, message_retention_duration=MESSAGE_RETENTION, opts=opts
        )
        for role in TOPIC_ROLES:
            gcp.pubsub.TopicIAMMember(
                f"{name}-eventing-{role.rsplit('.', 1)[-1]}",
                project=gke.project,
                topic=topic.name,
                role=role,
                member=member,
                opts=opts,
            )
        topics[name] = topic.id
    broker = EventBroker(kind="pubsub", endpoint="pubsub.googleapis.com:443", topics=topics)
    return broker, {"eventing": account.email}
