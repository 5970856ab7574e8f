"""Catalog sync: feed readers, row validation, diffing into catalog events, batched upserts."""
