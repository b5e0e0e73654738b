"""recsys-kit: declarative, plugin-based user-interest prediction with transformer models."""

__version__ = "0.1.0"
