"""The training step on a CUDA GPU, at the card's pace: the step (forward, backward, Adam, the loss terms written
to a log on the device) captured once as a CUDA graph and replayed, its element-wise work fused by torch.compile,
with no host synchronisation per step.

Why: an MNIST step of the classic 784-400-20 model is a few microseconds of arithmetic on an H200, but autograd
launches about a hundred small kernels for it and reading the loss each step waits for all of them: 469 steps took
1.3 s an epoch. Replayed as one graph the launches cost one call, and the losses are read when progress is flushed
(training.py), a few times an epoch.

The batch, its binarisation and the eps draws are made before each replay, into buffers the graph reads, from the
run's own generator (a graph replays the random offsets it was captured with, so draws inside it would repeat).
"""
from __future__ import annotations

import contextlib

import torch

from .config import Config
from .model import VAE
from .objective import negative_elbo

WARMUP_STEPS = 3  # eager steps before the capture: torch.compile compiles, and the caching allocator settles


def supported(model: VAE, device: torch.device) -> bool:
    """Whether GraphedStep can train model on device: any model, on a CUDA device."""
    return device.type == "cuda"


class GraphedStep:
    """Full batches of batch_size images: step() makes the batch, the eps draws, then runs the captured step (after
    a few eager ones); read() returns the (loss, recon, KL) of every step since the last read, and waits for them."""

    def __init__(self, model: VAE, config: Config, optimizer, batch_size: int, capacity: int, compile: bool = True):
        device = next(model.parameters()).device
        self.model, self.config, self.optimizer = model, config, optimizer
        self.gathered = torch.empty(batch_size, config.input_dim, device=device)
        self.x = torch.empty_like(self.gathered) if config.binarize else self.gathered
        self.eps = torch.empty(batch_size, config.latent_dim, device=device)
        self.beta = torch.zeros((), device=device)
        self.lr = torch.full((), config.lr, device=device)
        self.log = torch.zeros(capacity, 3, device=device)  # (loss, recon, KL) of each step since the last read
        self.filled = torch.zeros(1, dtype=torch.long, device=device)
        self.count = 0
        self.values = (None, None)  # (beta, lr) the device tensors hold
        self.compiled = torch.compile(self._loss, dynamic=False) if compile else self._loss
        self.update = torch.compile(optimizer.step_in_ops, dynamic=False) if compile else optimizer.step
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0

    def _loss(self, x, eps, beta):
        config = self.config
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            mu, logvar = self.model.encode(x)
            x_logits = self.model.decode(mu + eps * torch.exp(0.5 * logvar))
        terms = negative_elbo(x, x_logits, mu, logvar, beta, config.free_bits, config.likelihood, config.obs_sigma,
                              config.recon_reduction)
        return terms.loss, torch.stack([terms.loss, terms.recon.mean(), terms.kl.mean()]).detach()

    def _body(self) -> None:
        loss, logged = self.compiled(self.x, self.eps, self.beta)
        loss.backward()
        self.update()
        self.log.index_copy_(0, self.filled, logged.float().unsqueeze(0))
        self.filled.add_(1)

    def step(self, train_x: torch.Tensor, rows: torch.Tensor, beta: float, lr: float,
             generator: torch.Generator) -> None:
        torch.index_select(train_x, 0, rows, out=self.gathered)
        if self.config.binarize:
            torch.bernoulli(self.gathered, generator=generator, out=self.x)
        torch.randn(self.eps.shape, generator=generator, device=self.eps.device, out=self.eps)
        if (beta, lr) != self.values:  # a kernel each, only when the schedule moves them
            self.beta.fill_(beta)
            self.lr.fill_(lr)
            self.values = (beta, lr)
        self.optimizer.lr = self.lr
        if self.graph is not None:
            self.graph.replay()
        elif self.eager_steps < WARMUP_STEPS:
            self._eager()
        else:
            self._capture()
            self.graph.replay()
        self.count += 1

    def _eager(self) -> None:
        # On a side stream, as the capture will be: the first calls compile, and allocate what the graph then owns
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for p in self.model.parameters():
                p.grad = None
            self._body()
        torch.cuda.current_stream().wait_stream(stream)
        self.eager_steps += 1

    def _capture(self) -> None:
        for p in self.model.parameters():
            p.grad = None  # the captured backward allocates the gradients the replays then write
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._body()
        self.grads = [p.grad for p in self.model.parameters()]  # kept alive for the replays

    def read(self) -> list[tuple[float, float, float]]:
        """The (loss, recon, KL) of each step since the last read, in order: the one wait for the device."""
        values = self.log[:self.count].tolist()
        self.filled.zero_()
        self.count = 0
        return [tuple(v) for v in values]

    def release(self) -> None:
        """Give the graph's memory back; the gradients become ordinary tensors again."""
        self.graph = None
        with contextlib.suppress(AttributeError):
            del self.grads
