"""Storage providers: each maps the ``Backend`` operations onto one SDK, loaded on first use."""
