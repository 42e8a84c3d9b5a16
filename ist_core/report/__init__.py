"""Figures and tables for the book, split by what they draw.

- :mod:`.plotting`: what every figure shares (colour composites, closed figures, UMAP);
- :mod:`.data`: cells, channels, designs (Fig. 3), counterfactuals;
- :mod:`.diagnostics`: the shortcut diagnostics (is the batch easier than the biology?);
- :mod:`.causal`: the structural causal models of Fig. 1;
- :mod:`.ist`: training curves, Fig. 4B/C, counterfactual fidelity, the loss-term ablation;
- :mod:`.bounds`: a transfer between its bounds (naive, histogram matching, oracle) out
  of distribution: tables, figure, paired differences in words;
- :mod:`.baselines`: what each Table 1 baseline does to the features;
- :mod:`.stargan`: StarGAN v2 against IST (Fig. 2 measured, Fig. 5, training rates);
- :mod:`.benchmark`: the benchmark's bounds (a knob swept against the reference rows);
- :mod:`.tables`: Table 1, ours and the paper's, and sentences comparing them;
- :mod:`.stored`: stored results: provenance and stale warnings, the paper's claims
  checked with paired intervals, a live re-run beside its stored twin;

Every plotting function returns a closed :class:`matplotlib.figure.Figure`; chapters
call them as ``report.<name>``.
"""

from .plotting import *  # noqa: F401,F403
from .plotting import __all__ as _plotting_all
from .data import *  # noqa: F401,F403
from .diagnostics import *  # noqa: F401,F403
from .diagnostics import __all__ as _diagnostics_all
from .causal import *  # noqa: F401,F403
from .causal import __all__ as _causal_all
from .data import __all__ as _data_all
from .ist import *  # noqa: F401,F403
from .ist import __all__ as _ist_all
from .bounds import *  # noqa: F401,F403
from .bounds import __all__ as _bounds_all
from .baselines import *  # noqa: F401,F403
from .baselines import __all__ as _baselines_all
from .stargan import *  # noqa: F401,F403
from .stargan import __all__ as _stargan_all
from .benchmark import *  # noqa: F401,F403
from .benchmark import __all__ as _benchmark_all
from .tables import *  # noqa: F401,F403
from .tables import __all__ as _tables_all
from .stored import *  # noqa: F401,F403
from .stored import __all__ as _stored_all

__all__ = [*_plotting_all, *_data_all, *_diagnostics_all, *_causal_all, *_ist_all, *_bounds_all, *_baselines_all, *_stargan_all, *_benchmark_all,
           *_tables_all, *_stored_all]
