"""Azure Functions adapter (Python v2 programming model); ``function_app.py`` at the bundle root
re-exports ``azure_functions.app.app``."""
