"""Stand-in version: tells the tests which base package the host imported."""
__version__ = "0.0.0+stand-in"
