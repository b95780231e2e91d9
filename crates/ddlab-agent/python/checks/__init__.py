"""The legacy `checks` package (Agent 5's import path), as the Agent 6/7 ships it in its dist folder.

`from checks import AgentCheck` still works in Agent 6/7 because of a shim like this one; exercise
submissions use it. It re-exports the real base class, so such checks behave exactly like
`from datadog_checks.base import AgentCheck` ones.
"""

from datadog_checks.base.checks import AgentCheck  # noqa: F401
from datadog_checks.base.errors import CheckException  # noqa: F401

__all__ = ["AgentCheck", "CheckException"]
