"""What reaches a cluster: every Argo CD Application and Pulumi Helm release expanded offline, and the checks that
run on the whole platform (the stack's objects and the expanded ones together)."""
