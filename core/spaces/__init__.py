"""Built-in search spaces (each module is a plugin registered through the hooks)."""
