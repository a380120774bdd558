"""Example third-party code used by the tests (a store provider registered from outside core)."""
