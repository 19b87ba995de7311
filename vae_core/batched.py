"""K runs trained as one program: MLP models that share their architecture, data, batch size, epochs, precision and
weight average, and differ in beta, KL warm-up, free bits, learning rate (and its landing) or seed. Their weights
are stacked, each step gathers the batch once for all members whose seeds agree (their shuffling orders are the
same), the layers are batched matrix products, and each member keeps its own objective, schedule, random draws
and Adam moments: a member ends as the model, history and test metrics its own run would give, within float
rounding (tests/test_batched.py).

Why: the members of a sweep on tiny models cost each step little more than one of them, where separate runs pay
the per-step overhead (Python, small kernels, a batch gather) K times.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .config import Config
from .cuda_step import GraphedStep, autograd_terms
from .cuda_step import supported as graphed_supported
from .data import Dataset, binarize
from .errors import ConfigError, TrainingDiverged
from .evaluation import evaluate
from .events import EpochEvent, Member, StepEvent
from .mlp_step import MLPStep
from .model import VAE
from .objective import Terms
from .training import (COMPILE_FROM_STEPS, FLUSH_STEPS, Adam, History, epoch_record, kl_weight, learning_rate,
                       order_generator, resolve_precision)

SHARED = ("dataset", "arch", "hidden", "channels", "latent_dim", "likelihood", "obs_sigma", "recon_reduction",
          "binarize", "epochs", "batch_size", "ema", "precision")


def batchable(configs: list[Config]) -> bool:
    """Whether configs can train as one program: two or more MLPs agreeing in every field of SHARED."""
    first = configs[0]
    return (len(configs) > 1 and first.arch == "mlp"
            and all(getattr(c, name) == getattr(first, name) for c in configs for name in SHARED))


class Stacked(nn.Module):
    """K MLP VAEs of one architecture with their weights stacked on a first axis: [K, out, in], [K, 1, out]."""

    def __init__(self, models: list[VAE]):
        super().__init__()
        self.count, self.config = len(models), models[0].config
        layers = lambda m: [*_linears(m.encoder), m.mu_head, m.logvar_head, *_linears(m.decoder)]  # noqa: E731
        per_model = [layers(m) for m in models]
        self.weights = nn.ParameterList([nn.Parameter(torch.stack([ls[i].weight.detach() for ls in per_model]))
                                         for i in range(len(per_model[0]))])
        self.biases = nn.ParameterList([nn.Parameter(torch.stack([ls[i].bias.detach() for ls in per_model])[:, None])
                                        for i in range(len(per_model[0]))])
        self.encoder_layers = len(_linears(models[0].encoder))

    def layer_params(self) -> tuple[list, list, list]:
        """The (weight, bias) pairs of the encoder layers, the two heads and the decoder layers (mlp_step.MLPStep)."""
        pairs = list(zip(self.weights, self.biases))
        n = self.encoder_layers
        return pairs[:n], pairs[n:n + 2], pairs[n + 2:]

    def _linear(self, i: int, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.biases[i], h, self.weights[i].transpose(1, 2))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [K, B, P] -> mu, logvar [K, B, D]."""
        h = x
        for i in range(self.encoder_layers):
            h = self._linear(i, h).relu()
        n = self.encoder_layers
        return self._linear(n, h), self._linear(n + 1, h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z [K, B, D] -> logits [K, B, P]."""
        h, first, last = z, self.encoder_layers + 2, len(self.weights) - 1
        for i in range(first, last + 1):
            h = self._linear(i, h)
            if i < last:
                h = h.relu()
        return h

    @torch.no_grad()
    def unstack(self, k: int, model: VAE) -> None:
        """Copy member k's weights into model (a VAE of the same config)."""
        layers = [*_linears(model.encoder), model.mu_head, model.logvar_head, *_linears(model.decoder)]
        for layer, weight, bias in zip(layers, self.weights, self.biases):
            layer.weight.copy_(weight[k])
            layer.bias.copy_(bias[k, 0])


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module if isinstance(m, nn.Linear)]


@dataclass
class _MemberState:
    config: Config
    generator: torch.Generator        # eps draws and binarisation, as the member's own run
    order_generator: torch.Generator  # its batch order
    model: VAE                        # its weights between epochs: evaluated, kept, saved
    history: History = field(default_factory=History)


def train_batched(configs: list[Config], data: Dataset, *, callback: Callable | None = None, stop=None,
                  device: str | torch.device = "cpu") -> list[tuple[VAE, History]]:
    """Train one model per config as one program (see batchable()); returns each member's (model, history), as
    train_new would have. callback(Member(k, event)) hears each member's StepEvents and EpochEvents; stop (anything
    with is_set()) stops every member before the next step, each keeping its finished epochs. A non-finite loss in
    any member restores every member's last finished epoch and raises TrainingDiverged naming it."""
    if not batchable(configs):
        raise ConfigError("these runs cannot train as one program: they must be MLPs that agree in "
                          + ", ".join(SHARED))
    device = torch.device(device)
    configs = [resolve_precision(c, device) for c in configs]
    members = [_MemberState(c, torch.Generator(device=device).manual_seed(c.seed), order_generator(c, device),
                            VAE(c).to(device)) for c in configs]
    for m in members:
        m.model.config = m.config
    stacked = Stacked([m.model for m in members]).to(device)
    optimizer = Adam(stacked.parameters(), lr=0.0)  # each step sets every member's rate
    loop = _BatchedLoop(stacked, members, optimizer, device, callback, train_size=len(data.train_x))
    train_x, test_x = data.train_x.to(device), data.test_x.to(device)
    first = configs[0]
    for epoch in range(1, first.epochs + 1):
        start = time.perf_counter()
        sums = loop.run_epoch(train_x, epoch, stop)
        if sums is None:
            loop.restore()
            for m in members:
                m.history.stopped = True
            break
        train_seconds = time.perf_counter() - start
        tests = []
        for k, m in enumerate(members):
            loop.publish(k)
            tests.append(evaluate(m.model, test_x, m.config, seed=m.config.seed))
        for k, test in enumerate(tests):  # (an epoch's last step can leave weights that are not finite)
            if not math.isfinite(test["nelbo"]):
                raise loop.diverged(f"epoch {epoch} in run {k + 1} of {len(members)}: its test loss", test["nelbo"])
        for k, m in enumerate(members):
            m.history.test = tests[k]
            record = epoch_record(epoch, m.config, sums[k], m.history.test, time.perf_counter() - start,
                                  train_seconds)
            m.history.epochs.append(record)
            if callback is not None:
                callback(Member(k, EpochEvent(epoch, first.epochs, record)))
        loop.keep()
    return [(m.model, m.history) for m in members]


class _BatchedLoop:
    def __init__(self, stacked: Stacked, members: list[_MemberState], optimizer: Adam, device, callback,
                 train_size: int = 0):
        self.stacked, self.members, self.optimizer, self.device, self.callback = \
            stacked, members, optimizer, device, callback
        config = members[0].config
        self.average = [p.detach().clone() for p in stacked.parameters()] if config.ema > 0 else None
        self.steps_taken = 0
        # on the CPU the step with its gradient written out, batched (as one run's: mlp_step.py); else autograd
        self.written_out = MLPStep(stacked, config) if device.type == "cpu" else None
        free_bits = [m.config.free_bits for m in members]
        self.free_bits = torch.tensor(free_bits, device=device) if len(set(free_bits)) > 1 else free_bits[0]
        self.shared = all(m.config.seed == config.seed for m in members)  # one gather serves every member
        # on a GPU, full batches take the captured step, as one run's do (training.py)
        steps = config.epochs * math.ceil(train_size / config.batch_size)
        self.graphed = (GraphedStep(stacked, config, optimizer, config.batch_size, FLUSH_STEPS,
                                    compile=steps >= COMPILE_FROM_STEPS, members=len(members),
                                    free_bits=self.free_bits, shared=self.shared)
                        if graphed_supported(stacked, device) else None)
        self.batch_buffers: dict[int, torch.Tensor] = {}
        self.keep()

    def keep(self) -> None:
        self.good = copy.deepcopy(self.stacked.state_dict())
        self.good_average = copy.deepcopy(self.average)

    def restore(self) -> None:
        self.stacked.load_state_dict(self.good)
        self.average = copy.deepcopy(self.good_average)
        for k in range(len(self.members)):
            self.stacked.unstack(k, self.members[k].model)

    def diverged(self, where: str, value: float) -> TrainingDiverged:
        """Every member back at its last finished epoch, and the error that says where what became value."""
        self.restore()
        return TrainingDiverged(f"training diverged at {where} became {value}; every run is back at the weights of "
                                "its last finished epoch")

    def publish(self, k: int) -> None:
        """Member k's weights (its average, with ema) into its own VAE, to evaluate and save."""
        if self.average is None:
            return self.stacked.unstack(k, self.members[k].model)
        params = list(self.stacked.parameters())
        with torch.no_grad():
            raw = [p.detach().clone() for p in params]
            torch._foreach_copy_(params, self.average)
            self.stacked.unstack(k, self.members[k].model)
            torch._foreach_copy_(params, raw)

    def run_epoch(self, train_x: torch.Tensor, epoch: int, stop) -> list[list[float]] | None:
        members, config = self.members, self.members[0].config
        n, batch, count = len(train_x), config.batch_size, len(self.members)
        steps = math.ceil(n / batch)
        orders = [torch.randperm(n, generator=m.order_generator, device=m.order_generator.device).to(self.device)
                  for m in members]
        sums = [[0.0, 0.0, 0.0] for _ in members]

        def account(step: int, betas: list[float], images: int, losses) -> None:
            for k, (loss, recon, kl) in enumerate(losses):
                if not math.isfinite(loss):
                    raise self.diverged(f"epoch {epoch}, step {step} in run {k + 1} of {count}: the loss", loss)
                sums[k] = [total + value * images for total, value in zip(sums[k], (loss, recon, kl))]
                if self.callback is not None:
                    self.callback(Member(k, StepEvent(epoch, step, steps, loss, recon, kl, betas[k])))

        def flush() -> None:  # the one wait for the GPU, every FLUSH_STEPS steps: losses, their NaN guard, progress
            for (step, betas), losses in self.graphed.read() if self.graphed is not None else ():
                account(step, betas, batch, losses)

        for step in range(1, steps + 1):
            if stop is not None and stop.is_set():
                flush()  # the steps taken are reported before the run ends
                return None
            progress = epoch - 1 + (step - 1) / steps
            betas = [kl_weight(m.config, progress) for m in members]
            rates = [learning_rate(m.config, progress) for m in members]
            start, end = (step - 1) * batch, step * batch
            if self.graphed is not None and end <= n:
                self.graphed.step(train_x, [order[start:end] for order in orders], betas, rates,
                                  [m.generator for m in members], tag=(step, betas))
                self._update_average()
                if self.graphed.due:
                    flush()
            else:
                flush()
                x = self._batch(train_x, orders, start, end)
                account(step, betas, x.shape[1], self._step(x, betas, rates))
        flush()
        return [[total / n for total in s] for s in sums]

    def _batch(self, train_x, orders, start: int, end: int) -> torch.Tensor:
        """[K, B, P]: each member's rows as its own run gathers them (once, where the orders agree), binarised from
        the member's own generator."""
        size, count = min(end, len(train_x)) - start, len(self.members)
        if size not in self.batch_buffers:  # kept from step to step: a fresh block is cold in the cache
            self.batch_buffers[size] = train_x.new_empty((2, count, size, *train_x.shape[1:]))
        gathered, drawn = self.batch_buffers[size]
        if self.shared:
            x = torch.index_select(train_x, 0, orders[0][start:end], out=gathered[0]).expand(count, -1, -1)
        else:
            x = gathered
            for k, order in enumerate(orders):
                torch.index_select(train_x, 0, order[start:end], out=gathered[k])
        if self.members[0].config.binarize:
            for k, m in enumerate(self.members):
                binarize(x[k], m.generator, out=drawn[k])
            x = drawn
        return x

    def _step(self, x: torch.Tensor, betas: list[float], rates: list[float]) -> list[tuple[float, float, float]]:
        """One step of every member on its batch in x [K, B, P]: their (loss, recon, KL); the weights are left as
        they were where a loss is not finite (run_epoch then restores the last epoch's and raises)."""
        beta, generators = torch.tensor(betas, device=self.device), [m.generator for m in self.members]
        if self.written_out is not None:
            terms = self.written_out.forward(x, beta, generators, self.free_bits)
        else:
            terms = self._autograd_terms(x, beta, generators)
        logged = torch.stack([terms.loss, terms.recon.mean(-1), terms.kl.mean(-1)], 1).detach().tolist()
        if all(math.isfinite(loss) for loss, _, _ in logged):
            if self.written_out is not None:
                self.written_out.backward()
                self.optimizer.step_members(rates)
            else:
                self.stacked.zero_grad(set_to_none=True)
                terms.loss.sum().backward()  # each member's loss depends on its own weights only
                self.optimizer.lr = torch.tensor(rates, device=self.device).view(-1, 1, 1)  # every stacked tensor: 3-D
                self.optimizer.step_in_ops()
            self._update_average()
        return [tuple(v) for v in logged]

    def _autograd_terms(self, x: torch.Tensor, beta: torch.Tensor, generators: list) -> Terms:
        """The members' objective through autograd on the stacked layers (the path of a GPU's last, short batch)."""
        eps = torch.stack([torch.randn((x.shape[1], self.stacked.config.latent_dim), generator=g, device=x.device)
                           for g in generators])
        return autograd_terms(self.stacked, self.members[0].config, x, eps, beta, self.free_bits)

    def _update_average(self) -> None:
        if self.average is None:
            return
        self.steps_taken += 1
        ema = self.members[0].config.ema
        decay = min(ema, (1 + self.steps_taken) / (10 + self.steps_taken))
        with torch.no_grad():
            torch._foreach_lerp_(self.average, list(self.stacked.parameters()), 1 - decay)
