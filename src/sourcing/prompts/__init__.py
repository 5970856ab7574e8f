"""Prompt and answer templates as files, and the one loader that renders them."""
