"""Command-line tools: render, check, docs (run as `python -m infra.cli`)."""
