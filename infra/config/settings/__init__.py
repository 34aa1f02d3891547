"""The settings of an Environment by area, one module each; infra/config/model.py assembles them.

A stack file holds these settings under the single config key `mlops-platform:platform`, in camelCase.
Each attribute's docstring is its description in the generated JSON Schema and in docs/environment.md,
so write it for the adopter who edits a stack file. Rules that relate several settings live in rules.py.
"""
