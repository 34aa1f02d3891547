"""What the systems that receive a setting accept, as checks a stack file can be held to when it loads.

Each module reads one family of values the way its consumers read them (Go's and robfig/cron's parsers,
Kubernetes' validation, the GCP APIs, ...) and raises FormatError saying what is wrong. They know nothing of
pydantic or config paths: infra/config/formats.py binds them to the settings.
"""

from __future__ import annotations


class FormatError(ValueError):
    """A value its consumer would refuse; the message says why, in words for whoever edits the stack file."""
