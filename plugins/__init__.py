"""Built-in search-strategy plugins."""
