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


def supported(model: VAE, device: torch.device) -> bool:
    """Whether MLPStep can train model on device (else the loop uses autograd): MLP encoders on the CPU."""
    return model.config.arch == "mlp" and device.type == "cpu"


class MLPStep:
    """forward(x, beta, generator) -> Terms, then backward() writes every parameter's .grad (float32)."""

    def __init__(self, model: VAE, config: Config):
        self.config = config
        self.encoder = [m for m in model.encoder if isinstance(m, torch.nn.Linear)]
        self.heads = (model.mu_head, model.logvar_head)
        self.decoder = [m for m in model.decoder if isinstance(m, torch.nn.Linear)]  # the last gives the logits
        self.dtype = torch.bfloat16 if config.precision == "bf16" else torch.float32  # of the matrix products
        d, width = config.latent_dim, self.heads[0].in_features
        params = [*self.encoder, *self.decoder]
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        # The weights as the products read them: bf16 copies (refreshed each step), or the float32 weights
        # themselves; the two heads always side by side in one [2d, width] matrix, one product instead of two.
        low = self.dtype != torch.float32
        self.weights = [torch.empty_like(m.weight, dtype=self.dtype) if low else m.weight for m in params]
        self.biases = [torch.empty_like(m.bias, dtype=self.dtype) if low else m.bias for m in params]
        self.head_weight = torch.empty(2 * d, width, dtype=self.dtype)
        self.head_bias = torch.empty(2 * d, dtype=self.dtype)
        mu_head, logvar_head = self.heads
        sources = [mu_head.weight, logvar_head.weight, mu_head.bias, logvar_head.bias]
        targets = [self.head_weight[:d], self.head_weight[d:], self.head_bias[:d], self.head_bias[d:]]
        if low:
            sources += [m.weight for m in params] + [m.bias for m in params]
            targets += self.weights + self.biases
        self.refresh = (targets, sources)
        # Weight gradients as the products write them; copied into the float32 .grad where they differ.
        self.weight_grads = [torch.empty_like(w) for w in self.weights] if low else [m.weight.grad for m in params]
        self.head_grad = torch.empty_like(self.head_weight)
        grads_out = [mu_head.weight.grad, logvar_head.weight.grad]
        grads_in = [self.head_grad[:d], self.head_grad[d:]]
        if low:
            grads_out += [m.weight.grad for m in params]
            grads_in += self.weight_grads
        self.publish = (grads_out, grads_in)
        self.buffers: dict[int, dict] = {}
        self.saved: dict = {}

    def _buffers(self, batch: int) -> dict:
        """The activations and their gradients for a batch of this many images, allocated once."""
        if batch not in self.buffers:
            low, pixels = self.dtype, self.config.input_dim
            cast = low != torch.float32  # float32 products read x and write the gradient where they already are
            self.buffers[batch] = {
                "x": torch.empty(batch, pixels, dtype=low) if cast else None,
                "enc": [torch.empty(batch, m.out_features, dtype=low) for m in self.encoder],
                "heads": torch.empty(batch, self.head_weight.shape[0], dtype=low),
                "dec": [torch.empty(batch, m.out_features, dtype=low) for m in self.decoder],
                "logits": torch.empty(batch, pixels),    # float32: the loss and its gradient
                "mean": torch.empty(batch, pixels),      # sigmoid(logits), then the gradient
                "scratch": torch.empty(batch, pixels),
                "relu": torch.empty(batch, pixels),
                "grad": torch.empty(batch, pixels, dtype=low) if cast else None,
            }
        return self.buffers[batch]

    @torch.no_grad()
    def forward(self, x: torch.Tensor, beta: float, generator: torch.Generator) -> Terms:
        """The terms of negative_elbo for batch x (float32 pixels), with eps drawn from generator as VAE.forward
        draws it; remembers what backward needs."""
        config, buf = self.config, self._buffers(len(x))
        torch._foreach_copy_(*self.refresh)
        h = buf["x"].copy_(x) if self.dtype != torch.float32 else x
        inputs = [h]
        for w, b, out in zip(self.weights, self.biases, buf["enc"]):
            h = torch.addmm(b, h, w.t(), out=out).relu_()
            inputs.append(h)
        heads = torch.addmm(self.head_bias, h, self.head_weight.t(), out=buf["heads"]).float()
        d = config.latent_dim
        mu, logvar = heads[:, :d], heads[:, d:]
        sigma = torch.exp(0.5 * logvar)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        z = torch.addcmul(mu, eps, sigma)
        h = z.to(self.dtype)
        n_enc = len(self.encoder)
        for i, (w, b, out) in enumerate(zip(self.weights[n_enc:], self.biases[n_enc:], buf["dec"])):
            inputs.append(h)
            h = torch.addmm(b, h, w.t(), out=out)
            if i < len(self.decoder) - 1:
                h.relu_()
        logits = buf["logits"].copy_(h)
        mean = torch.sigmoid(logits, out=buf["mean"])
        recon = recon_nll(logits, x, config.likelihood, config.obs_sigma, mean, (buf["scratch"], buf["relu"]))
        terms = combine(recon, kl_per_dim(mu, logvar), beta, config.free_bits, config.recon_reduction, x.shape[1])
        self.saved = dict(x=x, inputs=inputs, mu=mu, logvar=logvar, sigma=sigma, eps=eps, mean=mean, terms=terms,
                          buf=buf)
        return terms

    @torch.no_grad()
    def backward(self) -> None:
        """The gradient of the last forward's loss, written into every parameter's .grad."""
        config, s = self.config, self.saved
        x, buf, inputs, mean = s["x"], s["buf"], s["inputs"], s["mean"]
        batch, d = len(x), config.latent_dim
        # d loss / d logits, without the recon's weight in the loss (1 / batch, and 1 / pixels with "mean"
        # reduction): that scale goes on narrower tensors.
        scale = s["terms"].recon_weight
        if config.likelihood == "bernoulli":
            grad = mean.sub_(x)                                   # sigmoid(l) - x
        else:                                                     # (s - x) s (1 - s) / sigma^2
            grad = torch.neg(mean, out=buf["scratch"]).add_(1).mul_(mean).mul_(mean.sub_(x)).div_(config.obs_sigma ** 2)
        g = buf["grad"].copy_(grad) if self.dtype != torch.float32 else grad
        params = [*self.encoder, *self.decoder]
        n_enc = len(self.encoder)
        for i in reversed(range(len(self.decoder))):
            layer, k = self.decoder[i], n_enc + i
            a = inputs[k + 1]                                     # the layer's input (the decoder's come after z)
            if i == len(self.decoder) - 1:
                a = a * scale                                     # [batch, width]: the cheap place for the scale
                torch.sum(grad, 0, out=layer.bias.grad).mul_(scale)  # from float32: no cast of a [batch, pixels]
            else:
                torch.sum(g, 0, dtype=torch.float32, out=layer.bias.grad)
            torch.mm(g.t(), a, out=self.weight_grads[k])
            g = g @ self.weights[k]
            if i == len(self.decoder) - 1:
                g.mul_(scale)
            if i > 0:
                _relu_backward(g, inputs[k + 1])
        grad_z = g.float()
        mu, logvar, sigma, eps = s["mu"], s["logvar"], s["sigma"], s["eps"]
        kl_scale = s["terms"].kl_weight  # beta / batch, 0 where free bits hold a dimension at the floor
        grad_heads = torch.empty(batch, 2 * d)
        torch.addcmul(grad_z, mu, torch.as_tensor(kl_scale), out=grad_heads[:, :d])           # dz/dmu = 1
        torch.mul(grad_z * eps, 0.5 * sigma, out=grad_heads[:, d:]).addcmul_(               # dz/dlogvar
            sigma * sigma - 1, torch.as_tensor(0.5 * kl_scale))
        grad_heads_low = grad_heads.to(self.dtype)
        mu_head, logvar_head = self.heads
        bias_grad = grad_heads.sum(0)
        mu_head.bias.grad.copy_(bias_grad[:d])
        logvar_head.bias.grad.copy_(bias_grad[d:])
        torch.mm(grad_heads_low.t(), inputs[n_enc], out=self.head_grad)
        g = grad_heads_low @ self.head_weight
        for k in reversed(range(n_enc)):
            _relu_backward(g, inputs[k + 1])
            torch.sum(g, 0, dtype=torch.float32, out=params[k].bias.grad)
            torch.mm(g.t(), inputs[k], out=self.weight_grads[k])
            if k > 0:
                g = g @ self.weights[k]
        torch._foreach_copy_(*self.publish)
        self.saved = {}


def _relu_backward(grad: torch.Tensor, output: torch.Tensor) -> None:
    """grad <- grad where the ReLU's output is positive, else 0, in place: autograd's own kernel for it, 8x faster
    than multiplying by a mask (which is cast from bool first)."""
    torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad)
