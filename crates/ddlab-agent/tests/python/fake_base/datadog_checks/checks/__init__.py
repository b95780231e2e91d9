"""Stand-in for the `datadog_checks.checks` compatibility package."""
from ..base.checks import AgentCheck  # noqa: F401
