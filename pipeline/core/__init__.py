"""The domain: types, ports, events, the rollout judge, settings, plan, pin and sync.

Imports no adapter and no client library (a contract in pyproject.toml).
"""
