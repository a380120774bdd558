"""End-to-end tests share the adapter tests' fixtures: no runtime cached across tests, one adapter's logging."""

from tests.adapters.conftest import _fresh_runtimes, aws_logging, azure_logging  # noqa: F401 - fixtures
