"""Moderation: staff actions and the audit log (facility policy and review come later)."""
