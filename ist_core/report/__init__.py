"""Figures and tables for the book, split by what they draw.

- :mod:`.data`: cells, channels, designs (Fig. 3), counterfactuals, diagnostics;

Every plotting function returns a closed :class:`matplotlib.figure.Figure`; chapters
call them as ``report.<name>``.
"""

from .data import *  # noqa: F401,F403
from .data import __all__ as _data_all

__all__ = list(_data_all)
