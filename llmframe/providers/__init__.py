"""Model providers: one sans-I/O module per wire API, and the registry that names them."""
