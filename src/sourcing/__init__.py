"""Sourcing Assistant: an AI sourcing assistant for wholesale buyers on a 1688-style platform."""
