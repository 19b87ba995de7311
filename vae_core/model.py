"""The VAE of the notes: an encoder with two heads (mu, log sigma^2), the reparameterised sample, a decoder of logits."""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import Config


class VAE(nn.Module):
    """q(z|x) = N(mu, diag(exp(logvar))) from the encoder; p(x|z) has the decoder's logits as its parameters."""

    def __init__(self, config: Config, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        body, features = (_mlp_encoder if config.arch == "mlp" else _conv_encoder)(config)
        self.encoder = body
        self.mu_head = nn.Linear(features, config.latent_dim)      # f1 in the notes
        self.logvar_head = nn.Linear(features, config.latent_dim)  # f2 in the notes
        self.decoder = (_mlp_decoder if config.arch == "mlp" else _conv_decoder)(config)
        init_parameters(self, generator if generator is not None else torch.Generator().manual_seed(config.seed))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # z = mu + eps * sigma with eps ~ N(0, I): the draw is an input, so gradients reach mu and sigma.
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * torch.exp(0.5 * logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of the pixels, flattened: sigmoid gives the Bernoulli means."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Returns (x_logits, mu, logvar, z) for a batch of flattened images."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar, z


def _dense(width: int, sizes) -> tuple[list[nn.Module], int]:
    """Dense(h, relu) layers of the notes, one per size; returns them and the last width."""
    layers = []
    for h in sizes:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return layers, width


def _mlp_encoder(config: Config):
    layers, width = _dense(config.input_dim, config.hidden)
    return nn.Sequential(*layers), width


def _mlp_decoder(config: Config):
    layers, width = _dense(config.latent_dim, reversed(config.hidden))
    return nn.Sequential(*layers, nn.Linear(width, config.input_dim))


def _conv_grid(config: Config):
    """The feature map after the stride-2 convolutions (each halves the image side)."""
    _, height, width = config.image_shape
    halvings = len(config.channels)
    return config.channels[-1], height >> halvings, width >> halvings


def _conv_encoder(config: Config):
    c = config.image_shape[0]
    layers = [nn.Unflatten(1, config.image_shape)]
    for out in config.channels:
        layers += [nn.Conv2d(c, out, 4, stride=2, padding=1), nn.ReLU()]
        c = out
    dense, width = _dense(math.prod(_conv_grid(config)), config.hidden)
    return nn.Sequential(*layers, nn.Flatten(), *dense), width


def _conv_decoder(config: Config):
    layers, width = _dense(config.latent_dim, reversed(config.hidden))
    grid = _conv_grid(config)
    layers += [nn.Linear(width, math.prod(grid)), nn.ReLU(), nn.Unflatten(1, grid)]
    channels = list(reversed(config.channels[:-1])) + [config.image_shape[0]]
    c = config.channels[-1]
    for i, out in enumerate(channels):
        layers.append(nn.ConvTranspose2d(c, out, 4, stride=2, padding=1))
        if i < len(channels) - 1:
            layers.append(nn.ReLU())
        c = out
    return nn.Sequential(*layers, nn.Flatten())


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default layer initialisation, drawn from the given generator instead of the global one.

    Sessions of the app share one process, so a seed must never touch the global RNG.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
