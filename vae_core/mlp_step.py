"""The MLP VAE's training step on the CPU with its gradient written out: the loss as objective.py computes and
weighs it, and the backward pass autograd would run, in fewer passes over memory and into buffers kept from step
to step.

Why: a step of the classic 784-400-20 model does 1.6 ms of matrix products (bf16) and, under autograd, about as
much again of element-wise work on freshly allocated [batch, 784] tensors. A fresh 400 KB block is not in the
cache, so each such pass costs 200-800 us instead of 20-40 us on a block reused every step. Here every
activation, logit and gradient lives in a buffer allocated once per batch size, and the matrix products write
their results in place (`out=`). tests/test_mlp_step.py checks the gradients against autograd's.
"""
from __future__ import annotations

import torch

from .config import Config
from .model import VAE
from .objective import Terms, combine, kl_per_dim, recon_nll


# The most entries a layer's weight (one run's) may have for its products to run in float32 under bf16 precision.
# A bf16 product costs about 35 us however small it is (oneDNN's call, with or without AMX), a float32 one of a
# [128, 256] batch by a [256, 32] weight 10-18 us, and the two cross near 16,000 entries (a 256x64, 400x40 or
# 512x32 weight), measured on a Xeon with AMX (BENCHMARKS.md): the heads and the decoder's first layer of most
# models fall below, the wide layers next to the pixels above.
SMALL_PRODUCT = 1 << 14


def product_dtype(config: Config, weight_shape) -> torch.dtype:
    """The dtype a layer's matrix products run in: bf16 under bf16 precision for a weight ([out, in], or K runs'
    [K, out, in]) with more than SMALL_PRODUCT entries a run, float32 otherwise."""
    if config.precision != "bf16" or weight_shape[-2] * weight_shape[-1] <= SMALL_PRODUCT:
        return torch.float32
    return torch.bfloat16


def supported(model: VAE, device: torch.device) -> bool:
    """Whether MLPStep can train model on device (else the loop uses autograd): MLP encoders on the CPU."""
    return model.config.arch == "mlp" and device.type == "cpu"


class MLPStep:
    """forward(x, beta, generator) -> Terms, then backward() writes every parameter's .grad (float32).

    The same step trains K runs as one program (vae_core/batched.py) when given their weights stacked on a first
    axis (a batched.Stacked): x is then [K, B, P], beta a [K] tensor, generator one per run, the products batched
    and every run's gradient its own.
    """

    def __init__(self, model, config: Config):
        self.config = config
        encoder, heads, decoder = layer_params(model)
        self.encoder, self.heads, self.decoder = encoder, heads, decoder  # (weight, bias) pairs
        self.members = encoder[0][0].shape[:-2]  # () for one model, (K,) for K stacked
        d, width = config.latent_dim, heads[0][0].shape[-1]
        params = [*encoder, *decoder]
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        # The weights as the products read them, each layer in its product_dtype: bf16 copies (refreshed each
        # step), or the float32 weights themselves; the two heads always side by side in one [2d, width] matrix,
        # one product instead of two.
        dtypes = [product_dtype(config, w.shape) for w, _ in params]
        self.weights = [w if t == torch.float32 else torch.empty_like(w, dtype=t) for (w, _), t in zip(params, dtypes)]
        self.biases = [b if t == torch.float32 else torch.empty_like(b, dtype=t) for (_, b), t in zip(params, dtypes)]
        (mu_weight, mu_bias), (logvar_weight, logvar_bias) = heads
        head_dtype = product_dtype(config, (2 * d, width))
        self.head_weight = torch.empty(*self.members, 2 * d, width, dtype=head_dtype)
        self.head_bias = torch.empty(*mu_bias.shape[:-1], 2 * d, dtype=head_dtype)
        sources = [mu_weight, logvar_weight, mu_bias, logvar_bias]
        targets = [self.head_weight[..., :d, :], self.head_weight[..., d:, :], self.head_bias[..., :d],
                   self.head_bias[..., d:]]
        copied = [i for i, t in enumerate(dtypes) if t != torch.float32]
        sources += [params[i][0] for i in copied] + [params[i][1] for i in copied]
        targets += [self.weights[i] for i in copied] + [self.biases[i] for i in copied]
        self.refresh = (targets, sources)
        # Weight gradients as the products write them; copied into the float32 .grad where they differ.
        self.weight_grads = [w.grad if t == torch.float32 else torch.empty_like(w, dtype=t)
                             for (w, _), t in zip(params, dtypes)]
        self.head_grad = torch.empty_like(self.head_weight)
        grads_out = [mu_weight.grad, logvar_weight.grad] + [params[i][0].grad for i in copied]
        grads_in = [self.head_grad[..., :d, :], self.head_grad[..., d:, :]] + [self.weight_grads[i] for i in copied]
        self.publish = (grads_out, grads_in)
        self.buffers: dict[int, dict] = {}
        self.saved: dict = {}

    def _buffers(self, batch: int) -> dict:
        """The activations and their gradients for a batch of this many images, allocated once: each layer's
        output in its product dtype, and its input cast to it where the layer before wrote another."""
        if batch not in self.buffers:
            pixels, rows = self.config.input_dim, (*self.members, batch)
            n_enc = len(self.encoder)
            layers = [*self.weights[:n_enc], self.head_weight, *self.weights[n_enc:]]
            self.buffers[batch] = {
                "out": [torch.empty(*rows, w.shape[-2], dtype=w.dtype) for w in layers],
                "cast": {},                                # an activation or gradient in the next layer's dtype
                "logits": torch.empty(*rows, pixels),    # float32: the loss and its gradient
                "mean": torch.empty(*rows, pixels),      # sigmoid(logits), then the gradient
                "scratch": torch.empty(*rows, pixels),
                "relu": torch.empty(*rows, pixels),
            }
        return self.buffers[batch]

    @torch.no_grad()
    def forward(self, x: torch.Tensor, beta, generator, free_bits=None) -> Terms:
        """The terms of negative_elbo for batch x (float32 pixels), with eps drawn from generator as VAE.forward
        draws it (K runs: from each run's own, their free bits a [K] tensor where they differ); free_bits None: the
        config's. Remembers what backward needs."""
        config, buf = self.config, self._buffers(x.shape[-2])
        torch._foreach_copy_(*self.refresh)
        n_enc = len(self.encoder)
        outs = iter(buf["out"])
        h = _cast(x, self.weights[0].dtype, buf, "x")
        inputs = [h]
        for k, (w, b) in enumerate(zip(self.weights[:n_enc], self.biases)):
            h = _affine(b, h, w, next(outs)).relu_()
            h = _cast(h, self.weights[k + 1].dtype if k + 1 < n_enc else self.head_weight.dtype, buf, ("in", k + 1))
            inputs.append(h)
        heads = _affine(self.head_bias, h, self.head_weight, next(outs)).float()
        d = config.latent_dim
        mu, logvar = heads[..., :d], heads[..., d:]
        sigma = torch.exp(0.5 * logvar)
        if self.members:
            eps = torch.stack([torch.randn(mu.shape[1:], generator=g, dtype=mu.dtype) for g in generator])
        else:
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        z = torch.addcmul(mu, eps, sigma)
        h = _cast(z, self.weights[n_enc].dtype, buf, "z")
        decoder = list(zip(self.weights[n_enc:], self.biases[n_enc:]))
        for i, (w, b) in enumerate(decoder):
            inputs.append(h)
            h = _affine(b, h, w, next(outs))
            if i < len(decoder) - 1:
                h = _cast(h.relu_(), decoder[i + 1][0].dtype, buf, ("in", n_enc + 2 + i))
        logits = buf["logits"].copy_(h)
        mean = torch.sigmoid(logits, out=buf["mean"])
        recon = recon_nll(logits, x, config.likelihood, config.obs_sigma, mean, (buf["scratch"], buf["relu"]))
        terms = combine(recon, kl_per_dim(mu, logvar), beta, config.free_bits if free_bits is None else free_bits,
                        config.recon_reduction, x.shape[-1])
        self.saved = dict(x=x, inputs=inputs, mu=mu, logvar=logvar, sigma=sigma, eps=eps, mean=mean, terms=terms,
                          buf=buf)
        return terms

    @torch.no_grad()
    def backward(self) -> None:
        """The gradient of the last forward's loss, written into every parameter's .grad."""
        config, s = self.config, self.saved
        x, buf, inputs, mean = s["x"], s["buf"], s["inputs"], s["mean"]
        d = config.latent_dim
        # d loss / d logits, without the recon's weight in the loss (1 / batch, and 1 / pixels with "mean"
        # reduction): that scale goes on narrower tensors.
        scale = s["terms"].recon_weight
        if config.likelihood == "bernoulli":
            grad = mean.sub_(x)                                   # sigmoid(l) - x
        else:                                                     # (s - x) s (1 - s) / sigma^2
            grad = torch.neg(mean, out=buf["scratch"]).add_(1).mul_(mean).mul_(mean.sub_(x)).div_(config.obs_sigma ** 2)
        params = [*self.encoder, *self.decoder]
        n_enc = len(self.encoder)
        g = _cast(grad, self.weights[-1].dtype, buf, "grad")
        for i in reversed(range(len(self.decoder))):
            (_, bias), k = self.decoder[i], n_enc + i
            a = inputs[k + 1]                                     # the layer's input (the decoder's come after z)
            if i == len(self.decoder) - 1:
                a = a * scale                                     # [batch, width]: the cheap place for the scale
                _sum_rows(grad, bias.grad).mul_(scale)            # from float32: no cast of a [batch, pixels]
            else:
                _sum_rows(g, bias.grad)
            _grad_weight(g, a, self.weight_grads[k])
            g = g @ self.weights[k]                               # in this layer's dtype, as its input is
            if i == len(self.decoder) - 1:
                g.mul_(scale)
            if i > 0:
                _relu_backward(g, inputs[k + 1])
                g = _cast(g, self.weights[k - 1].dtype, buf, ("grad", k - 1))
        grad_z = g.float()
        mu, logvar, sigma, eps = s["mu"], s["logvar"], s["sigma"], s["eps"]
        kl_scale = s["terms"].kl_weight  # beta / batch, 0 where free bits hold a dimension at the floor
        kl_scale = kl_scale.unsqueeze(-2) if self.members else torch.as_tensor(kl_scale)  # [K, 1, D or 1]
        grad_heads = torch.empty(*mu.shape[:-1], 2 * d)
        torch.addcmul(grad_z, mu, kl_scale, out=grad_heads[..., :d])                         # dz/dmu = 1
        torch.mul(grad_z * eps, 0.5 * sigma, out=grad_heads[..., d:]).addcmul_(             # dz/dlogvar
            sigma * sigma - 1, 0.5 * kl_scale)
        grad_heads_low = grad_heads.to(self.head_weight.dtype)
        (_, mu_bias), (_, logvar_bias) = self.heads
        bias_grad = grad_heads.sum(-2, keepdim=bool(self.members))
        mu_bias.grad.copy_(bias_grad[..., :d])
        logvar_bias.grad.copy_(bias_grad[..., d:])
        _grad_weight(grad_heads_low, inputs[n_enc], self.head_grad)
        g = grad_heads_low @ self.head_weight
        for k in reversed(range(n_enc)):
            _relu_backward(g, inputs[k + 1])
            g = _cast(g, self.weights[k].dtype, buf, ("grad", k))
            _sum_rows(g, params[k][1].grad)
            _grad_weight(g, inputs[k], self.weight_grads[k])
            if k > 0:
                g = g @ self.weights[k]
        torch._foreach_copy_(*self.publish)
        self.saved = {}


def layer_params(model) -> tuple[list, list, list]:
    """The (weight, bias) pairs of model's encoder layers, its two heads (mu, logvar) and its decoder layers: a VAE's
    [out, in] and [out], or K stacked models' [K, out, in] and [K, 1, out] (batched.Stacked.layer_params)."""
    if hasattr(model, "layer_params"):
        return model.layer_params()
    pairs = lambda layers: [(m.weight, m.bias) for m in layers if isinstance(m, torch.nn.Linear)]  # noqa: E731
    return pairs(model.encoder), pairs([model.mu_head, model.logvar_head]), pairs(model.decoder)


def _affine(bias: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """h @ weight^T + bias, written into out: [B, in] by [out, in], or K stacked runs' [K, B, in] by [K, out, in]."""
    if h.dim() == 2:
        return torch.addmm(bias, h, weight.t(), out=out)
    return torch.baddbmm(bias, h, weight.transpose(1, 2), out=out)


def _grad_weight(grad: torch.Tensor, inputs: torch.Tensor, out: torch.Tensor) -> None:
    """A layer's weight gradient grad^T @ inputs, written into out (batched over K stacked runs)."""
    if grad.dim() == 2:
        torch.mm(grad.t(), inputs, out=out)
    else:
        torch.bmm(grad.transpose(1, 2), inputs, out=out)


def _sum_rows(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """A layer's bias gradient, the sum over the batch, in float32 into out ([out], or [K, 1, out])."""
    return torch.sum(grad, -2, keepdim=grad.dim() == 3, dtype=torch.float32, out=out)


def _cast(t: torch.Tensor, dtype: torch.dtype, buf: dict, key) -> torch.Tensor:
    """t in dtype: t itself where it is, else a copy into the buffer kept under key."""
    if t.dtype == dtype:
        return t
    if key not in buf["cast"]:
        buf["cast"][key] = torch.empty(t.shape, dtype=dtype)  # (not empty_like: t may be an expanded view)
    return buf["cast"][key].copy_(t)


def _relu_backward(grad: torch.Tensor, output: torch.Tensor) -> None:
    """grad <- grad where the ReLU's output is positive, else 0, in place: autograd's own kernel for it, 8x faster
    than multiplying by a mask (which is cast from bool first)."""
    torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad)
