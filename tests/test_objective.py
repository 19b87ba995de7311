"""The objective against torch.distributions and the notes' sigmoid + BCE form."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_core import VAE, Config
from vae_core.objective import (bernoulli_nll, combine, gaussian_nll, iwae_log_likelihood, kl_per_dim,
                                negative_elbo, recon_nll)


def test_kl_closed_form_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(64, 5, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(64, 5, generator=g, dtype=torch.float64)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_per_dim(mu, logvar).double(), expected, rtol=1e-5, atol=1e-6)


def test_kl_is_zero_only_at_the_prior():
    zero = torch.zeros(3, 4)
    assert torch.equal(kl_per_dim(zero, zero), zero)
    assert (kl_per_dim(zero + 0.1, zero) > 0).all() and (kl_per_dim(zero, zero - 0.5) > 0).all()


def test_bernoulli_nll_equals_the_notes_sigmoid_plus_bce():
    g = torch.Generator().manual_seed(1)
    x_logits = torch.randn(32, 784, generator=g) * 4
    x = torch.rand(32, 784, generator=g)
    notes_form = F.binary_cross_entropy(torch.sigmoid(x_logits), x, reduction="none").sum(1)
    torch.testing.assert_close(bernoulli_nll(x_logits, x), notes_form, rtol=1e-4, atol=1e-3)


def test_bernoulli_nll_is_exact_and_finite_for_extreme_logits():
    x_logits = torch.tensor([[-200.0, -30.0, 0.0, 30.0, 200.0]])
    x = torch.tensor([[1.0, 1.0, 0.5, 0.0, 0.0]])
    expected = -Bernoulli(logits=x_logits.double(), validate_args=False).log_prob(x.double()).sum(1)
    got = bernoulli_nll(x_logits, x)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), expected, rtol=1e-6, atol=1e-4)


def test_bernoulli_nll_gradient_matches_autograd_of_bce_with_logits():
    g = torch.Generator().manual_seed(2)
    a = (torch.randn(8, 50, generator=g) * 5).requires_grad_()
    b = a.detach().clone().requires_grad_()
    x = torch.rand(8, 50, generator=g)
    weights = torch.rand(8, generator=g)
    (bernoulli_nll(a, x) * weights).sum().backward()
    (F.binary_cross_entropy_with_logits(b, x, reduction="none").sum(1) * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_gaussian_nll_matches_normal_log_prob():
    g = torch.Generator().manual_seed(3)
    x_logits, x = torch.randn(4, 10, generator=g), torch.rand(4, 10, generator=g)
    expected = -Normal(torch.sigmoid(x_logits), 0.2).log_prob(x).sum(1)
    torch.testing.assert_close(gaussian_nll(x_logits, x, 0.2), expected)
    torch.testing.assert_close(recon_nll(x_logits, x, "gaussian", 0.2), expected)


def test_over_a_sample_axis_each_term_is_each_sample_s_own_against_its_image():
    """[m, B, P] logits against [B, P] images (what IWAE decodes): -log p(x|z_j) for every sample j, as
    torch.distributions gives it and as the same function gives it one sample at a time."""
    g = torch.Generator().manual_seed(10)
    x_logits, x = torch.randn(5, 6, 30, generator=g) * 4, torch.rand(6, 30, generator=g)
    bernoulli = -Bernoulli(logits=x_logits.double(), validate_args=False).log_prob(x.double()).sum(-1)
    gaussian = -Normal(torch.sigmoid(x_logits.double()), 0.2).log_prob(x.double()).sum(-1)
    for likelihood, expected in (("bernoulli", bernoulli), ("gaussian", gaussian)):
        got = recon_nll(x_logits, x, likelihood, 0.2)
        assert got.shape == (5, 6)
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)
        one_at_a_time = torch.stack([recon_nll(sample, x, likelihood, 0.2) for sample in x_logits])
        torch.testing.assert_close(got, one_at_a_time, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_the_written_out_step_s_form_from_the_mean_and_buffers_is_the_same_term(likelihood):
    """MLPStep passes the decoder's mean it already has and two buffers to compute in: the same values, the mean
    left as it was, and a result that does not live in the buffers (they are overwritten next step)."""
    g = torch.Generator().manual_seed(11)
    x_logits, x = torch.randn(8, 40, generator=g) * 6, torch.rand(8, 40, generator=g).round_()
    mean = torch.sigmoid(x_logits)
    work = (torch.empty(8, 40), torch.empty(8, 40))
    got = recon_nll(x_logits, x, likelihood, 0.3, mean=mean.clone(), work=work)
    torch.testing.assert_close(got, recon_nll(x_logits, x, likelihood, 0.3), rtol=1e-5, atol=1e-4)
    kept = got.clone()
    for buffer in work:
        buffer.fill_(float("nan"))
    assert torch.equal(got, kept)
    mean_in = mean.clone()
    recon_nll(x_logits, x, likelihood, 0.3, mean=mean_in, work=work)
    assert torch.equal(mean_in, mean)


def test_gradients_reach_the_encoder_through_the_reparameterised_sample():
    model = VAE(Config(dataset="digits", hidden=(16,), latent_dim=3))
    x = torch.rand(10, 64, generator=torch.Generator().manual_seed(4))
    x_logits, mu, logvar, z = model(x, torch.Generator().manual_seed(5))
    recon_nll(x_logits, x).mean().backward()  # the reconstruction term alone: no KL path to the encoder
    for head in (model.mu_head, model.logvar_head):
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    assert model.encoder[0].weight.grad.abs().sum() > 0


def test_reparameterize_draws_from_the_posterior():
    mu, logvar = torch.tensor([[1.5, -2.0]]).repeat(20000, 1), torch.tensor([[0.0, math.log(0.25)]]).repeat(20000, 1)
    z = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(6))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, -2.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 0.5]), atol=0.03, rtol=0)


def test_negative_elbo_weights_kl_by_beta_and_averages_over_the_batch():
    g = torch.Generator().manual_seed(7)
    x, x_logits = torch.rand(6, 64, generator=g), torch.randn(6, 64, generator=g)
    mu, logvar = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    terms = negative_elbo(x, x_logits, mu, logvar, beta=4.0)
    torch.testing.assert_close(terms.kl, terms.kl_per_dim.sum(1))
    torch.testing.assert_close(terms.loss, terms.recon.mean() + 4.0 * terms.kl.mean())
    torch.testing.assert_close(terms.nelbo, terms.recon + terms.kl)


def test_free_bits_stop_penalising_dimensions_below_the_floor():
    mu = torch.tensor([[0.01, 3.0], [-0.01, 2.0]], requires_grad=True)
    logvar = torch.zeros(2, 2)
    x, x_logits = torch.zeros(2, 4), torch.zeros(2, 4)
    terms = negative_elbo(x, x_logits, mu, logvar, free_bits=0.5)
    expected_kl_term = 0.5 + kl_per_dim(mu, logvar)[:, 1].mean()  # dim 0 is below 0.5 nats: clamped
    torch.testing.assert_close(terms.loss - terms.recon.mean(), expected_kl_term)
    terms.loss.backward()
    assert torch.all(mu.grad[:, 0] == 0) and torch.all(mu.grad[:, 1] != 0)


def test_iwae_with_one_sample_is_the_sampled_elbo():
    model = VAE(Config(dataset="digits", hidden=(32,), latent_dim=4))
    x = torch.rand(16, 64, generator=torch.Generator().manual_seed(8))
    iwae = iwae_log_likelihood(model, x, k=1, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        x_logits, mu, logvar, _ = model(x, torch.Generator().manual_seed(9))
        # log p(x|z) + log p(z) - log q(z|x) for the same z; in expectation it is -(recon + KL)
        z = model.reparameterize(mu, logvar, torch.Generator().manual_seed(9))
        log_q = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
        log_p = Normal(0.0, 1.0).log_prob(z).sum(1)
        elbo_sample = -recon_nll(model.decode(z), x) + log_p - log_q
    torch.testing.assert_close(iwae, elbo_sample, rtol=1e-5, atol=1e-4)


def test_iwae_estimates_do_not_fall_as_k_grows(trained_digits, digits):
    """E[log p_k(x)] never decreases with k (Burda et al., Theorem 1): the estimated NLL is non-increasing. Checked
    on all 300 test images, two draws each, through the per-image differences and their standard error: from
    k = 1 to 10 the gain clears three standard errors; from 10 to 100 (this small model's bound is nearly tight
    by then) no loss beyond three."""
    model, _ = trained_digits
    x = digits.test_x.repeat(2, 1)
    estimates = {k: iwae_log_likelihood(model, x, k, torch.Generator().manual_seed(k)) for k in (1, 10, 100)}
    for low, high, floor in ((1, 10, 3.0), (10, 100, -3.0)):
        gain = estimates[high] - estimates[low]
        standard_error = gain.std() / len(gain) ** 0.5
        assert gain.mean() > floor * standard_error, (low, high, gain.mean(), standard_error)


def test_iwae_batches_of_samples_and_images_give_the_same_estimate(trained_digits, digits):
    model, _ = trained_digits
    x = digits.test_x[:7]
    whole = iwae_log_likelihood(model, x, 64, torch.Generator().manual_seed(3), rows=100_000)
    split = iwae_log_likelihood(model, x, 64, torch.Generator().manual_seed(3), rows=64)  # one image, 64 samples
    torch.testing.assert_close(whole.mean(), split.mean(), atol=0.05, rtol=0)  # other draws, same estimate
    small = iwae_log_likelihood(model, x, 64, torch.Generator().manual_seed(3), rows=16)  # samples in chunks of 16
    torch.testing.assert_close(split, small)  # the same draws in the same order: the same numbers


def test_averaging_the_reconstruction_over_pixels_is_beta_times_pixels_in_disguise():
    g = torch.Generator().manual_seed(5)
    x, x_logits = torch.rand(16, 64, generator=g), torch.randn(16, 64, generator=g)
    mu, logvar = torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g)
    mean = negative_elbo(x, x_logits, mu, logvar, beta=2.0, recon_reduction="mean")
    summed = negative_elbo(x, x_logits, mu, logvar, beta=2.0 * 64)
    torch.testing.assert_close(mean.loss * 64, summed.loss)  # same minimiser: beta x 64 on the summed ELBO
    torch.testing.assert_close(mean.recon, summed.recon)  # and the reported terms stay nats per image


def test_combine_with_free_bits_and_a_pixel_mean_is_the_hand_computation():
    recon = torch.tensor([120.0, 80.0, 100.0])
    kld = torch.tensor([[0.1, 2.0, 0.0], [0.3, 4.0, 0.6], [0.2, 3.0, 0.0]])  # batch means 0.2, 3.0, 0.2
    terms = combine(recon, kld, beta=2.0, free_bits=0.25, recon_reduction="mean", pixels=50)
    # mean recon over 50 pixels + beta * (max(0.25, 0.2) + max(0.25, 3.0) + max(0.25, 0.2))
    assert terms.loss.item() == pytest.approx(100.0 / 50 + 2.0 * (0.25 + 3.0 + 0.25))
    torch.testing.assert_close(terms.kl, torch.tensor([2.1, 4.9, 3.2]))
    torch.testing.assert_close(terms.recon, recon)  # nats per image, whatever the reduction
    plain = combine(recon, kld, beta=2.0, pixels=50)
    assert plain.loss.item() == pytest.approx(100.0 + 2.0 * 3.4)


@pytest.mark.parametrize("beta, free_bits, reduction", [(1.0, 0.0, "sum"), (0.3, 0.5, "sum"), (4.0, 0.5, "mean"),
                                                        (2.0, 0.0, "mean")])
def test_the_weights_combine_reports_are_the_gradient_of_its_loss(beta, free_bits, reduction):
    """The written-out backward scales by Terms.recon_weight and Terms.kl_weight: d loss / d recon[b] and
    d loss / d kl_per_dim[b, i] as autograd finds them, free bits' clamped dimensions at zero."""
    g = torch.Generator().manual_seed(12)
    recon = (torch.rand(16, generator=g) * 100).requires_grad_()
    kld = (torch.rand(16, 4, generator=g) * torch.tensor([0.2, 1.0, 0.1, 3.0])).requires_grad_()
    terms = combine(recon, kld, beta, free_bits, reduction, pixels=64)
    terms.loss.backward()
    torch.testing.assert_close(recon.grad, torch.full_like(recon, terms.recon_weight))
    torch.testing.assert_close(kld.grad, torch.as_tensor(terms.kl_weight).expand_as(kld))
    if free_bits > 0:  # both sides of the floor
        assert (kld.grad == 0).any() and (kld.grad > 0).any()
