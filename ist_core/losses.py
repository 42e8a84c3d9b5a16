"""The IST objective (paper Sec. 4.2), one function per equation.

Feature arguments are lists of layers ``[u^0, ..., u^L]`` as returned by
:meth:`ist_core.models.Encoder.features`. Every function returns a scalar tensor;
:func:`ist_objective` weighs them (eq. 7) and returns the total with its parts for
the log, as detached tensors (no device sync until the loop reads them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def critic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 2, the critic's side: its head for OE c calls real images of c real and images
    generated for c fake (binary cross entropy on logits)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 regularisation (Mescheder et al. 2018): half the mean squared norm of the critic's
    gradient on real images, which must have been passed with ``requires_grad``. Not in
    the paper's eq. 7; a stabiliser for the critic (weight ``r1``, 0 turns it off)."""
    grad, = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return 0.5 * grad.pow(2).reshape(len(grad), -1).sum(1).mean()


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 2, the generator's side, in the usual non-saturating form: make the head of the
    assigned OE call the generated image real."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def gram(u: torch.Tensor) -> torch.Tensor:
    """Gram matrix of a feature map (B, C, H, W) -> (B, C, C), normalised by H * W."""
    b, c, h, w = u.shape
    flat = u.float().reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def style_loss(feats_out: list[torch.Tensor], feats_style: list[torch.Tensor]) -> torch.Tensor:
    """Eq. 3: mean over layers of the L1 distance between the Gram matrices of the output's
    and the style image's features.

    Each layer's distance is taken relative to the mean magnitude of the style image's
    Gram matrix (our choice; the paper does not say how layers are scaled): raw Gram
    entries of the pixel layer are a hundred times smaller than those of deep layers,
    and without it the pixel statistics, where most batch effects live, would hardly count.
    """
    terms = []
    for a, b in zip(feats_out, feats_style):
        target = gram(b)
        scale = target.abs().mean(dim=(1, 2), keepdim=True).detach() + 1e-6
        terms.append(((gram(a) - target).abs() / scale).mean())
    return torch.stack(terms).mean()


def cycle_loss(content: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Eq. 4: L1 between the content image and G(E(x_hat), v_content), the output sent
    back with the content image's own style code."""
    return (content.float() - reconstruction.float()).abs().mean()


def content_loss(output: torch.Tensor, anchor: torch.Tensor,
                 feats_out: list[torch.Tensor], feats_content: list[torch.Tensor]) -> torch.Tensor:
    """Eq. 5: pixel L1 between the output and ``anchor`` plus the mean over encoder layers
    (u^1..u^L; u^0 is the pixels) of the L1 between the output's and the content image's
    features.

    ``anchor`` is the content image moment-matched to the style image
    (:func:`ist_core.models.moment_match`), the generator's own starting point, not the
    raw content image: our reading of eq. 5. The paper's ``|x_hat - x|`` asks the output
    to keep the content image's raw intensities, which is the very change of gain and
    offset per channel that a batch effect is and that the transfer is meant to make, so
    it pulls the output back towards the input and against the style and adversarial
    terms. Against the moment-matched content the pixel part is the size of the
    generator's residual: it penalises changes of the cell (its content), not the
    intended change of intensity. The feature part compares with the raw content image:
    the encoder's instance norms make its features nearly blind to a change of gain.
    """
    pixels = (output.float() - anchor.float()).abs().mean()
    feats = torch.stack([(a.float() - b.float()).abs().mean()
                         for a, b in zip(feats_out[1:], feats_content[1:])]).mean()
    return pixels + feats


def class_matching_loss(logits_out: torch.Tensor, probs_content: torch.Tensor) -> torch.Tensor:
    """Eq. 6: cross entropy of the frozen encoder's cause prediction on the output against
    its (soft) prediction on the real content image, not against the label."""
    return -(probs_content.float() * F.log_softmax(logits_out.float(), dim=1)).sum(1).mean()


def ist_objective(terms: dict[str, torch.Tensor], weights) -> tuple[torch.Tensor, dict]:
    """Eq. 7, the generator's side: ``adv + l1 style + l2 cycle + l3 content + l4 match``.

    ``terms`` maps ``adv``, ``style``, ``cycle``, ``content``, ``match`` to their values;
    ``weights`` has an attribute of the same name for each (an :class:`ISTConfig`).
    Returns ``(total, parts)``; ``parts`` holds every term and the total, detached.
    """
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    parts = {name: value.detach() for name, value in terms.items()}
    parts["total"] = total.detach()
    return total, parts


# ---------------------------------------------------------------- StarGAN v2 (Choi et al. 2020)
def style_reconstruction_loss(style_pred: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """StarGAN v2's style reconstruction: L1 between the style code a generated image was
    made with and the one the style encoder reads back from it."""
    return (style_pred - style).abs().mean()


def diversity_loss(out_1: torch.Tensor, out_2: torch.Tensor) -> torch.Tensor:
    """StarGAN v2's diversity-sensitive term: mean L1 between two outputs of the same input
    under two style codes. The generator maximises it (it enters with a minus sign)."""
    return (out_1 - out_2).abs().mean()

