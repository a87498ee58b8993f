"""The kernel: the words every package shares (personas, categories, products, dayparts,
Redis key names and clients, pseudonyms, demo users, limits, settings).

It imports no other package of the project, so anything may import it (checked by
`lint-imports`, see .importlinter).
"""
