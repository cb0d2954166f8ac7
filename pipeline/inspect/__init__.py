"""What is deployed, read from the three places that can disagree.

- ``pins``: what the Argo CD Application pins for an image-updater alias (pure).
- ``workloads``: which Deployment and container an alias drives, and what its pods run (pure).
- ``agreement``: do registry, Application and pods agree, and if not, why (pure).
- ``status``: gathers the three for ``pipeline status`` (I/O through the adapters).
- ``refresh``: ``pipeline refresh``, the refresh annotation as argocd-server writes it.
- ``kubereads``: the few reads the adapters do not offer yet (Application list, Secret).
"""
