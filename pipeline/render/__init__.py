"""Generate the shipped CI files (GitHub workflow, Argo WorkflowTemplate, CronWorkflow, RBAC)
and the PR comment from pipeline.yaml with jinja2 (templates in pipeline/templates/)."""
