"""recsys-kit: declarative, plugin-based user-interest prediction with transformer models.

Plugins mark their hook implementations with :data:`hookimpl`::

    from recsys_kit import hookimpl

Importing the package stays cheap: it loads pluggy's markers only, not torch.
"""

from recsys_kit.hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "hookspec"]
