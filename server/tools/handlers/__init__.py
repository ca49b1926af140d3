"""Built-in tool handlers, one module per family; server/tools/builtin.py lists them."""
