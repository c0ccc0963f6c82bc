"""The package version, in a leaf module so that lineage events, the CLI and the server can name it without importing
the root package's facade (which pulls in tables and indexes)."""

__version__ = "0.1.0"
