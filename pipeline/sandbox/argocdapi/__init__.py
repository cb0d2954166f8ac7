"""The sandbox's Argo CD API server (argocd-server's REST API); docs/sandbox-argocd-api.md."""

from pipeline.sandbox.argocdapi.server import ArgoCDAPIServer

__all__ = ["ArgoCDAPIServer"]
