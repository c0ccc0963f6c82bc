"""The ``lakehouse`` command-line interface (click)."""
