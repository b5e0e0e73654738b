"""Built-in stages, one module per family; each is a plugin loaded through entry points."""
