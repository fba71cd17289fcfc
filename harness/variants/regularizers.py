"""Regularisers of G's weights and weight initialisation schemes (recipe-level options).

- ``orthogonal_penalty`` (Brock et al. 2019, §3.1, "modified" orthogonal regularisation):
  Σ_W ‖W Wᵀ ⊙ (1 − I)‖²_F over every weight of G with at least two dimensions (each reshaped
  to (outputs, inputs)), class embeddings excluded; only off-diagonal terms, so it constrains
  angles between filters but not their norms. The recipe adds β times it to G's loss.
- ``orthogonal_init``: orthogonal initialisation of every linear and convolution weight (and
  embedding), as BigGAN initialises G and D (Saxe et al. 2014).

Both act on a layer's raw weight, under spectral normalisation too.
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def raw_weight(module: nn.Module) -> torch.Tensor:
    """The layer's own parameter (the one spectral normalisation rescales)."""
    if nn.utils.parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def orthogonal_penalty(net: nn.Module) -> torch.Tensor:
    total = torch.zeros(())
    for module in net.modules():
        if isinstance(module, WEIGHTED):
            w = raw_weight(module).flatten(1)
            gram = w @ w.t()
            off_diagonal = gram - torch.diag(torch.diagonal(gram))
            total = total + off_diagonal.square().sum()
    return total


@torch.no_grad()
def orthogonal_init(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, (*WEIGHTED, nn.Embedding)):
            nn.init.orthogonal_(raw_weight(module))
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
