"""The training step on a CUDA GPU, at the card's pace: the step (forward, backward, Adam, the loss terms written
to a log on the device) captured once as a CUDA graph and replayed, its element-wise work fused by torch.compile,
with no host synchronisation per step. One run's step, or K runs' trained as one program (vae_core/batched.py:
their weights stacked, x [K, B, P], each member's beta and rate a slot of a [K] tensor).

Why: an MNIST step of the classic 784-400-20 model is a few microseconds of arithmetic on an H200, but autograd
launches about a hundred small kernels for it and reading the loss each step waits for all of them: 469 steps took
1.3 s an epoch. Replayed as one graph the launches cost one call, and the losses are read when progress is flushed
(training.py), a few times an epoch.

The batch, its binarisation and the eps draws are made before each replay, into buffers the graph reads, from each
run's own generator (a graph replays the random offsets it was captured with, so draws inside it would repeat).
Elsewhere than on CUDA the same step runs uncaptured, each step eagerly with its losses still read at a flush: how
the tests check it on a machine without a GPU.
"""
from __future__ import annotations

import contextlib

import torch

from .config import Config
from .objective import Terms, negative_elbo

WARMUP_STEPS = 3  # eager steps before the capture: torch.compile compiles, and the caching allocator settles
# torch.compile's mode for the step (None: its default, matrix products left to cuBLAS). The captured graph is ours,
# so a mode that captures its own ("max-autotune", "reduce-overhead") would not do; "max-autotune-no-cudagraphs"
# also times Triton's matrix-product kernels against cuBLAS's (benchmarks/gpu_epoch.py --parts compiled --mode)
COMPILE_MODE: str | None = None


def supported(model, device: torch.device) -> bool:
    """Whether GraphedStep can train model on device: any model (or stacked models), on a CUDA device."""
    return device.type == "cuda"


def autograd_terms(model, config: Config, x: torch.Tensor, eps: torch.Tensor, beta, free_bits) -> Terms:
    """The objective of batch x through autograd, from the eps draws eps: one run's (x [B, P]) or K stacked runs'
    (x [K, B, P], beta and free_bits [K] tensors where the members differ). The matrix products in bfloat16 with
    config's precision, the objective in float32 (as the CPU's written-out step computes it)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        mu, logvar = model.encode(x)
    mu, logvar = mu.float(), logvar.float()
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        x_logits = model.decode(mu + eps * torch.exp(0.5 * logvar))
    return negative_elbo(x, x_logits.float(), mu, logvar, beta, free_bits, config.likelihood, config.obs_sigma,
                         config.recon_reduction)


class GraphedStep:
    """Full batches of batch_size images: step() makes the batch and the eps draws, then runs the captured step
    (after a few eager ones); read() returns the (loss, recon, KL) of every step since the last read, with the tag
    each step was given, and waits for them: one triple a step, or with members=K a list of K triples (each
    member's) a step. due says that the log is full: read it before the next step.

    model has encode() and decode() (a VAE, or batched.Stacked for K members); optimizer is training.Adam over its
    parameters. With members, free_bits may be a [K] tensor, and shared says that every member trains on the same
    rows (their seeds agree): they are gathered once."""

    def __init__(self, model, config: Config, optimizer, batch_size: int, capacity: int, compile: bool = True,
                 members: int = 0, free_bits: float | torch.Tensor | None = None, shared: bool = False):
        device = next(model.parameters()).device
        self.model, self.config, self.optimizer, self.members = model, config, optimizer, members
        self.free_bits = config.free_bits if free_bits is None else free_bits
        lead = (members,) if members else ()
        self.gathered = torch.empty(*(() if shared else lead), batch_size, config.input_dim, device=device)
        if config.binarize:
            self.x = torch.empty(*lead, batch_size, config.input_dim, device=device)
        else:
            self.x = self.gathered.expand(*lead, -1, -1) if shared else self.gathered
        self.eps = torch.empty(*lead, batch_size, config.latent_dim, device=device)
        self.shared = shared
        # each member's (gather buffer, drawn batch, eps): views of the buffers above
        slot = lambda buffer, k: buffer[k] if members and buffer.dim() == 3 else buffer  # noqa: E731
        self.slots = [(slot(self.gathered, k), slot(self.x, k), slot(self.eps, k)) for k in range(members or 1)]
        self.beta = torch.zeros(lead, device=device)
        self.lr = torch.full((*lead, 1, 1) if members else (), config.lr, device=device)  # [K, 1, 1]: any parameter
        self.log = torch.zeros(capacity, *lead, 3, device=device)  # (loss, recon, KL) of each step since the read
        self.filled = torch.zeros(1, dtype=torch.long, device=device)
        self.tags: list = []  # of the steps whose losses are logged but not read yet
        self.values = None  # the (betas, rates) the device tensors hold
        self.compiled = torch.compile(self._loss, dynamic=False, mode=COMPILE_MODE) if compile else self._loss
        # Adam's fused kernel takes one rate, not one a member
        uncompiled = optimizer.step_in_ops if members else optimizer.step
        self.update = torch.compile(optimizer.step_in_ops, dynamic=False, mode=COMPILE_MODE) if compile else uncompiled
        self.capture = device.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0

    def _loss(self, x, eps, beta):
        terms = autograd_terms(self.model, self.config, x, eps, beta, self.free_bits)
        logged = torch.stack([terms.loss, terms.recon.mean(-1), terms.kl.mean(-1)], -1)
        return terms.loss.sum(), logged.detach()  # each member's loss depends on its own weights only

    def _body(self) -> None:
        loss, logged = self.compiled(self.x, self.eps, self.beta)
        loss.backward()
        self.update()
        self.log.index_copy_(0, self.filled, logged.float().unsqueeze(0))
        self.filled.add_(1)

    def step(self, train_x: torch.Tensor, rows: list[torch.Tensor], betas: list[float], rates: list[float],
             generators: list[torch.Generator], tag=None) -> None:
        """One step on the rows of train_x: rows, betas, rates and generators hold one entry a member (one for a
        single run; with shared, the first member's rows serve all). read() gives its losses back with tag."""
        for k, ((gathered, x, eps), generator) in enumerate(zip(self.slots, generators)):
            if k == 0 or not self.shared:
                torch.index_select(train_x, 0, rows[k], out=gathered)
            if self.config.binarize:
                torch.bernoulli(gathered, generator=generator, out=x)
            torch.randn(eps.shape, generator=generator, device=eps.device, out=eps)
        if (betas, rates) != self.values:  # a kernel each, only when the schedules move them
            for slot, beta in zip(self.beta.view(-1), betas):
                slot.fill_(beta)
            for slot, lr in zip(self.lr.view(-1), rates):
                slot.fill_(lr)
            self.values = (list(betas), list(rates))
        self.optimizer.lr = self.lr
        if self.graph is not None:
            self.graph.replay()
        elif not self.capture or self.eager_steps < WARMUP_STEPS:
            self._eager()
        else:
            self._capture()
            self.graph.replay()
        self.tags.append(tag)

    def _eager(self) -> None:
        # On CUDA on a side stream, as the capture will be: the first calls compile, and allocate what the graph owns
        stream = torch.cuda.Stream() if self.capture else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            for p in self.model.parameters():
                p.grad = None
            self._body()
        if stream is not None:
            torch.cuda.current_stream().wait_stream(stream)
        self.eager_steps += 1

    def _capture(self) -> None:
        for p in self.model.parameters():
            p.grad = None  # the captured backward allocates the gradients the replays then write
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._body()
        self.grads = [p.grad for p in self.model.parameters()]  # kept alive for the replays

    @property
    def due(self) -> bool:
        return len(self.tags) == len(self.log)

    def read(self) -> list[tuple]:
        """(tag, (loss, recon, KL)) of each step since the last read, in order (with members, a list of the members'
        triples a step): the one wait for the device, none when no step is waiting."""
        if not self.tags:
            return []
        values = self.log[:len(self.tags)].tolist()
        self.filled.zero_()
        tags, self.tags = self.tags, []
        if self.members:
            return [(tag, [tuple(v) for v in step]) for tag, step in zip(tags, values)]
        return [(tag, tuple(v)) for tag, v in zip(tags, values)]
