"""GitOps delivery tools: promotion of version pins between stack files, and rendered diffs between refs."""
