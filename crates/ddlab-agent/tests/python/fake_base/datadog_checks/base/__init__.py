"""Stand-in for `datadog_checks.base` (see datadog_checks/__init__.py)."""
from .checks import AgentCheck  # noqa: F401
from .errors import CheckException  # noqa: F401
