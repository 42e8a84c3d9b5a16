"""ist_core: the library behind the IST paper companion (Pernice et al., CVPRW 2023)."""

__version__ = "0.1.0"
