"""A module without any AgentCheck subclass."""


def check():
    return 1
