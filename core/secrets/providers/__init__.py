"""Secrets providers; each module imports its cloud SDK only when a store of its kind is opened."""
