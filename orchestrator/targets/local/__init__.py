"""The local target: the same stages on this machine. Only this package imports torch & co., lazily."""
