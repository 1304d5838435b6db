"""Built-in target plugins (each module registers through the hwnas hooks)."""
