#!/usr/bin/env bash
# Write the kubeconfig context the stack's Kubernetes provider uses (gke_<project>_<region>_mlops-<stack>).
# A cluster that does not exist yet (the first `pulumi up`) is not an error: Pulumi creates it.
set -euo pipefail
stack="$1"
file="environments/Pulumi.${stack}.yaml"
read -r project region hub < <(.venv/bin/python - "$file" <<'PY'
import sys, yaml
platform = yaml.safe_load(open(sys.argv[1]))["config"]["mlops-platform:platform"]
gke = platform.get("gke") or {}
argocd = platform.get("argocd") or {}
hub = ((argocd.get("hub") or {}).get("kubeconfig") or {}).get("context", "-") if argocd.get("mode") == "hub" else "-"
print(gke.get("project", "-"), gke.get("region", "-"), hub)
PY
)
# A hub Argo CD on GKE (argocd.mode hub): its context, named as gcloud names it (gke_<project>_<location>_<cluster>).
if [[ "$hub" == gke_*_*_* ]]; then
  IFS=_ read -r _ hub_project hub_location hub_cluster <<< "$hub"
  gcloud container clusters get-credentials "$hub_cluster" --location "$hub_location" --project "$hub_project"
fi
if [ "$project" = "-" ]; then
  echo "stack ${stack} is not on GKE; its kubeconfig comes from the runner" >&2
  exit 0
fi
gcloud container clusters get-credentials "mlops-${stack}" --region "$region" --project "$project" \
  || echo "cluster mlops-${stack} not found in ${project}; pulumi will create it" >&2
