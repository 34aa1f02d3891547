"""Entry point for `pulumi up` (Pulumi.yaml: main: infra/). The logic lives in infra.program."""

from infra.program import main

main()
