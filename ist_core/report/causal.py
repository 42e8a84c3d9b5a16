"""Figures of the causal-framing chapter: the two structural causal models of Fig. 1."""

from __future__ import annotations

__all__ = ["plot_scms"]

# node -> (symbol, what it is, x, y, observed, where its description goes)
NODES = {
    "C": ("C", "OE (batch)", 0.0, 2.0, True, (-1.35, 1.93)),
    "Y": ("Y", "cause", 2.0, 2.0, True, (2.35, 1.93)),
    "Z": ("Z", "phenotype", 2.0, 1.0, False, (2.35, 0.93)),
    "X": ("X", "image", 1.0, 0.0, True, (1.35, -0.07)),
}
EDGES = [("Y", "Z"), ("Z", "X"), ("C", "X"), ("C", "Z")]


def _draw(confounded: bool):
    import daft

    pgm = daft.PGM(shape=(4.9, 3.4), origin=(-1.45, -0.6), node_unit=0.8, dpi=100)
    for name, (symbol, what, x, y, observed, (tx, ty)) in NODES.items():
        pgm.add_node(name, f"${symbol}$", x, y, observed=observed, fontsize=11)
        pgm.add_text(tx, ty, what, fontsize=8)
    for a, b in EDGES:
        pgm.add_edge(a, b)
    if confounded:
        # the sparse design: the OE decides which causes are imaged in it
        pgm.add_edge("C", "Y", plot_params={"ec": "C3", "fc": "C3", "lw": 1.5})
        pgm.add_text(0.6, 2.12, "design", fontsize=8)
    else:
        pgm.add_text(-0.3, 2.45, "do(C)", fontsize=9)
    pgm.render()
    return pgm.figure


def plot_scms():
    """Fig. 1: SCM_delta (observational: the design ties C to Y) and SCM_psi (IST's
    intervention on C cuts that edge). Shaded nodes are observed, Z is not."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    titles = (r"SCM$_\delta$: the observational training data",
              r"SCM$_\psi$: IST's interventional training data")
    fig = Figure(figsize=(7.6, 3.6), dpi=100)
    for i, confounded in enumerate((True, False)):
        part = _draw(confounded)
        part.canvas.draw()
        ax = fig.add_subplot(1, 2, i + 1)
        ax.imshow(part.canvas.buffer_rgba())
        ax.set_title(titles[i], fontsize=9)
        ax.axis("off")
        plt.close(part)
    fig.tight_layout()
    return fig
