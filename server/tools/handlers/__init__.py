"""Tool handlers, one module per family; each registers its tools with `@handler(name)`."""
