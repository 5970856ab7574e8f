"""Skills: one module per capability, plain typed functions over domain and retrieval."""
