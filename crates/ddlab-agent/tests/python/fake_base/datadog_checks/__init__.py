"""A stand-in for datadog-checks-base, used only by the Python host's protocol tests with a plain python3.

The real package is what the host is for; its tests (tests/python_checks.rs) run with DDLAB_PYTHON. This
stand-in has the same import paths and the few methods the test checks call, so that the protocol,
recovery and stdout handling can be tested on any machine without network access.
"""
