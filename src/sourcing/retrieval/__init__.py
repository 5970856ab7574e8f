"""Retrieval: embedders, the Qdrant product index, lexical vectors, hybrid search and ranking."""
