"""The deploy-canary core: plan, preflight, pin, sync, verify (docs/architecture.md)."""
