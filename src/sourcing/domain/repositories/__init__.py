"""Repositories: all SQL of the service lives in this package."""
