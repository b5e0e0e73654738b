"""recsys-kit-gru4rec: the GRU4Rec user encoder as a separately installed recsys-kit plugin.

Installing the distribution registers the ``gru4rec`` user encoder through the ``recsys_kit``
entry-point group; use it in a recipe as ``model.encoders.user.plugin: gru4rec``.
"""

from recsys_kit_gru4rec.stages import Gru4RecConfig

__all__ = ["Gru4RecConfig"]
__version__ = "0.1.0"
