"""Tools agents may call: their names, descriptions and JSON-schema parameters."""
