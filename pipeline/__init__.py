"""pipeline: deploy a pull request's canary image through Argo CD and prove the pods run it."""

__version__ = "0.1.0"
