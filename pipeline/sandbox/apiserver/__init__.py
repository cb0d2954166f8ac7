"""The sandbox Kubernetes API server (see docs/sandbox-apiserver.md)."""

from pipeline.sandbox.apiserver.server import APIServer

__all__ = ["APIServer"]
