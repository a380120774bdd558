"""Azure Functions entry point: the host indexes the `app` found in function_app.py at the bundle root."""

from azure_functions.app import app  # noqa: F401
