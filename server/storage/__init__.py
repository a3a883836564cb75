"""Storage: the only layer that talks SQL (models, queries, transactions)."""
