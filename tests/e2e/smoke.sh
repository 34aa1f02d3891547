#!/usr/bin/env bash
# Smoke checks after `pulumi up` of the e2e stack on kind: Argo CD runs, every Application it was given is
# synced and healthy, and the platform's namespaces carry Pod Security labels and a default-deny policy.
set -euo pipefail

echo "Argo CD is up"
kubectl -n argocd wait --for=condition=Available deployment -l app.kubernetes.io/part-of=argocd --timeout=300s

echo "Every Application is synced and healthy"
deadline=$((SECONDS + 900))
while true; do
  pending="$(kubectl get applications.argoproj.io -n argocd -o json \
    | jq -r '.items[] | select(.status.sync.status != "Synced" or .status.health.status != "Healthy") | .metadata.name')"
  [ -z "$pending" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "not synced/healthy after 15 minutes: $pending" >&2
    kubectl get applications.argoproj.io -n argocd -o wide >&2
    exit 1
  fi
  sleep 15
done
kubectl get applications.argoproj.io -n argocd

echo "Namespaces are secured"
for ns in $(kubectl get namespaces -l app.kubernetes.io/part-of=mlops-platform -o jsonpath='{.items[*].metadata.name}'); do
  level="$(kubectl get namespace "$ns" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')"
  [ -n "$level" ] || { echo "namespace $ns has no Pod Security level" >&2; exit 1; }
  kubectl -n "$ns" get networkpolicy default-deny > /dev/null || { echo "namespace $ns has no default-deny" >&2; exit 1; }
  echo "  $ns: enforce=$level, default-deny present"
done

echo "cert-manager issues certificates"
kubectl wait --for=condition=Ready clusterissuer --all --timeout=300s
echo "smoke checks passed"
