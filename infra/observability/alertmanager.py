"""The platform's Alertmanager configuration as an AlertmanagerConfig resource (monitoring.coreos.com/v1alpha1).

It is the top-level configuration (`alertmanagerSpec.alertmanagerConfiguration`), so its routes see every
alert, not only those of its namespace. Receivers reference Secrets by name and key: the operator reads them
into the Alertmanager configuration, so no credential is in a chart value or a manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.components.monitoring import Alerting, AlertRoute, Receiver


NULL_RECEIVER = "null"
"""Receiver without integrations: unmatched alerts stay visible in the Alertmanager UI and go nowhere."""

SecretRef = Callable[["Receiver"], Mapping[str, str]]


def alertmanager_config_spec(alerting: Alerting, secret_ref: SecretRef) -> dict[str, Any]:
    receivers = [{"name": NULL_RECEIVER}, *(_receiver(r, secret_ref(r)) for r in alerting.receivers)]
    return {
        "route": {
            "receiver": alerting.default_receiver or NULL_RECEIVER,
            "groupBy": ["alertname", "namespace", "component"],
            "groupWait": "30s",
            "groupInterval": "5m",
            "repeatInterval": "4h",
            "routes": [
                # The chart's Watchdog alert always fires to prove the pipeline works; it needs no human.
                {"receiver": NULL_RECEIVER, "matchers": [{"name": "alertname", "value": "Watchdog"}]},
                *(_route(route) for route in alerting.routes),
            ],
        },
        "receivers": receivers,
    }


def _route(route: AlertRoute) -> dict[str, Any]:
    matchers = []
    if route.severities:
        matchers.append({"name": "severity", "value": "|".join(route.severities), "matchType": "=~"})
    if route.components:
        matchers.append({"name": "component", "value": "|".join(route.components), "matchType": "=~"})
    return {"receiver": route.receiver, "matchers": matchers, "continue": False}


def _receiver(receiver: Receiver, ref: Mapping[str, str]) -> dict[str, Any]:
    secret = dict(ref)
    if receiver.type == "slack":
        slack: dict[str, Any] = {
            "apiURL": secret,
            "sendResolved": True,
            "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.component }})",
            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ end }}",
        }
        if receiver.channel:
            slack["channel"] = receiver.channel
        return {"name": receiver.name, "slackConfigs": [slack]}
    if receiver.type == "pagerduty":
        return {"name": receiver.name, "pagerdutyConfigs": [{"routingKey": secret, "sendResolved": True}]}
    return {"name": receiver.name, "webhookConfigs": [{"urlSecret": secret, "sendResolved": True}]}
