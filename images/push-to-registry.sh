#!/bin/sh
# push-to-registry.sh REGISTRY DIR: copy every build under DIR (image-<name>/image.tar, an OCI archive with its SBOM
# and provenance, and image-<name>/build.env naming it) to REGISTRY/<name>:<tag>, every manifest of the archive and
# its digests as they are, so that every environment runs the bytes that were scanned. A tag the registry already
# has is kept: a build's tag names its sources, and prod's Artifact Registry refuses to move a tag.
# Needs skopeo (GitHub's Ubuntu runners have it; install it on the on-prem runner) and a prior `skopeo login`.
set -eu
registry="$1"
dir="$2"
command -v skopeo > /dev/null || { echo "push-to-registry.sh: skopeo is not installed on this runner" >&2; exit 1; }
found=0
for build in "$dir"/image-*/build.env; do
  [ -f "$build" ] || continue
  found=1
  name="$(sed -n 's/^name=//p' "$build")"
  tag="$(sed -n 's/^tag=//p' "$build")"
  archive="$(dirname "$build")/image.tar"
  destination="docker://${registry}/${name}:${tag}"
  if skopeo inspect --raw "$destination" > /dev/null 2>&1; then
    echo "${registry}/${name}:${tag} exists; kept"
    continue
  fi
  skopeo copy --all --preserve-digests "oci-archive:${archive}" "$destination"
  echo "${registry}/${name}:${tag} pushed"
done
[ "$found" = 1 ] || { echo "push-to-registry.sh: no build under $dir" >&2; exit 1; }
