"""Stand-in for `datadog_checks.base.errors`."""


class CheckException(Exception):
    pass
