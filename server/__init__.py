"""Homeline server: composition root, accounts, facilities, contacts, storage and the CLI."""
