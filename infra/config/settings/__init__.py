"""The settings no one component owns: the cluster layer's (cluster.py), the platform-wide ones (platform.py) and the
bases every settings object shares (common.py). Each component's own settings model is in its module
(infra/components/<name>.py, its `settings`); infra/config/model.py assembles them all into the Environment.

A stack file holds these settings under the single config key `mlops-platform:platform`, in camelCase.
Each attribute's docstring is its description in the generated JSON Schema and in docs/environment.md,
so write it for the adopter who edits a stack file. Rules that relate several settings live in rules.py.
"""
