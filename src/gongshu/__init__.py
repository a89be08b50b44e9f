"""Gongshu (公数): a city platform for developing and using public data."""

__version__ = "0.1.0"
