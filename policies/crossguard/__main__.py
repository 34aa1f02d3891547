"""Entry point of the policy pack: `pulumi preview --policy-pack policies/crossguard`."""

from pulumi_policy import PolicyPack

from policies.crossguard.rules import POLICIES

PolicyPack(name="mlops-platform", policies=POLICIES)
