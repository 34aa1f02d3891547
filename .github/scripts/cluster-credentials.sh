#!/usr/bin/env bash
# Write the kubeconfig context the stack's Kubernetes provider uses (gke_<project>_<region>_mlops-<stack>).
# A cluster that does not exist yet (the first `pulumi up`) is not an error: Pulumi creates it.
set -euo pipefail
stack="$1"
file="environments/Pulumi.${stack}.yaml"
read -r project region < <(.venv/bin/python - "$file" <<'PY'
import sys, yaml
platform = yaml.safe_load(open(sys.argv[1]))["config"]["mlops-platform:platform"]
gke = platform.get("gke") or {}
print(gke.get("project", "-"), gke.get("region", "-"))
PY
)
if [ "$project" = "-" ]; then
  echo "stack ${stack} is not on GKE; its kubeconfig comes from the runner" >&2
  exit 0
fi
gcloud container clusters get-credentials "mlops-${stack}" --region "$region" --project "$project" \
  || echo "cluster mlops-${stack} not found in ${project}; pulumi will create it" >&2
