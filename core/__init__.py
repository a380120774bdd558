"""Circle Core: one storage interface and one event model over AWS, Azure and Google Cloud.

Importing ``core`` loads no cloud SDK; each provider imports its SDK when a store first names it.
"""
