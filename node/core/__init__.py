"""The pure core: values and rules, bytes in and values out. Nothing here opens a file, a
database, a socket or an event loop, and nothing here imports outside ``node.core`` but the
standard library, PyNaCl and orjson (``tests/unit/test_layers.py`` checks it)."""
