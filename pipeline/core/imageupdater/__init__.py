"""argocd-image-updater's configuration model, as pure logic shared by deploy-canary and poll.

- ``annotations``: Application/ApplicationSet annotations -> :class:`ImageUpdaterConfig`.
- ``imagespec``: one ``image-list`` entry.
- ``strategies``: semver / newest-build / alphabetical / digest decisions over registry data.
- ``semver``: Masterminds/semver v3 versions and constraints.
- ``tagfilters``: ``allow-tags``, ``ignore-tags``, ``platforms``.
- ``credrefs``: ``pullsecret:``/``secret:``/``env:``/``ext:`` references and their resolution.
- ``writeback``: write-back settings and the kustomize/helm values image-updater writes.
- ``overrides``: merging the git write-back override file (``.argocd-source-<app>.yaml``).
- ``registriesconf``: ``registries.conf`` parsing, checks and endpoint lookup.

No module here does I/O; callers inject it. docs/image-updater-annotations.md lists the
supported annotations and where we differ from image-updater.
"""
