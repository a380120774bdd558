"""End-to-end tests share the adapter tests' reset: no runtime cached across tests."""

from tests.adapters.conftest import _fresh_runtimes  # noqa: F401 - autouse fixture
