"""The platform stacks: one landing zone per environment on AWS + EKS.

`stack.deploy_platform` is the entry point; one ComponentResource per box: `network.Network`,
`cluster.Cluster`, `karpenter.Karpenter`, `gpu.GpuAddons`, `addons.ClusterAddons`,
`ci_identity.CiIdentity`. Pinned Helm charts are in `versions`; `mlrig bootstrap` is `bootstrap`.
"""
