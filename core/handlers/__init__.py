"""Shared, cloud-agnostic handlers. Adapters translate platform input into these calls."""
