"""Stand-in for `datadog_checks.base.checks`."""
from .base import AgentCheck  # noqa: F401
