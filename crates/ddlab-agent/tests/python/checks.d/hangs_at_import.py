"""A check module whose import never finishes."""
import threading

threading.Event().wait()
