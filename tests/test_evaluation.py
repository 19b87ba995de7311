"""Evaluation numbers and latent utilities on a trained digits model."""
import math

import numpy as np
import pytest
import torch

from vae_core import VAE, Config, ConfigError, evaluate, iwae_estimate
from vae_core.evaluation import (decode_images, encode_dataset, gaussian_grid_values, image_grid, lerp,
                                 manifold_latents, pca_plane, plane_latents, project_2d, slerp, traversal)


def test_evaluate_parts_add_up(trained_digits, digits):
    model, _ = trained_digits
    m = evaluate(model, digits.test_x)
    assert m["nelbo"] == pytest.approx(m["recon"] + m["kl"])
    assert sum(m["kl_per_dim"]) == pytest.approx(m["kl"], rel=1e-5)
    assert m["n"] == 300 and 0 <= m["active_units"] <= 2
    assert m["active_units"] == sum(a > 0.01 for a in m["activity"])
    assert evaluate(model, digits.test_x) == m  # seeded: the same numbers every time


def test_collapsed_units_are_not_active(digits):
    # With a huge beta every posterior is pushed onto the prior: no unit carries information.
    model = VAE(Config(dataset="digits", hidden=(32,), latent_dim=4, beta=200.0, epochs=5, batch_size=64))
    from vae_core import train
    train(model, digits)
    m = evaluate(model, digits.test_x)
    assert m["active_units"] == 0 and m["kl"] < 0.5


def test_iwae_estimate_sits_between_zero_and_the_negative_elbo(trained_digits, digits):
    model, _ = trained_digits
    nelbo = evaluate(model, digits.test_x)["nelbo"]
    estimate = iwae_estimate(model, digits.test_x, k=50)
    assert 0 < estimate["iwae_nll"] < nelbo and estimate["iwae_k"] == 50 and estimate["iwae_n"] == 300
    assert 0 < estimate["iwae_nll_se"] < 1  # the spread over images, divided by sqrt(300)
    assert "test_binarization_seed" not in estimate  # grey-level pixels: nothing binarised


def test_the_gap_to_the_elbo_and_its_standard_error_are_paired_image_by_image(trained_digits, digits):
    """elbo_gap is evaluate's negative ELBO (the same seed, so the same draws) minus the IWAE estimate, and its
    standard error is that of the per-image differences: computed here from the images' own values."""
    import math

    import torch

    from vae_core.objective import iwae_log_likelihood, negative_elbo

    model, _ = trained_digits
    x = digits.test_x
    estimate = iwae_estimate(model, x, k=20, seed=5)
    with torch.no_grad():
        x_logits, mu, logvar, _ = model(x, torch.Generator().manual_seed(5))  # the test set is one batch of 300
        terms = negative_elbo(x, x_logits, mu, logvar)
        log_px = iwae_log_likelihood(model, x, 20, torch.Generator().manual_seed(5))
    gap = (terms.recon + terms.kl).double() + log_px.double()
    assert estimate["elbo_gap"] == pytest.approx(gap.mean().item(), abs=1e-9)
    assert estimate["elbo_gap_se"] == pytest.approx(gap.std().item() / math.sqrt(len(x)), rel=1e-9)
    assert estimate["elbo_gap"] == pytest.approx(evaluate(model, x, seed=5)["nelbo"] - estimate["iwae_nll"], abs=1e-4)
    # pairing removes the images' own spread: far below the standard error of either side alone
    assert estimate["elbo_gap_se"] < estimate["iwae_nll_se"] / 2


def test_encode_dataset_gives_means_and_positive_stds(trained_digits, digits):
    model, _ = trained_digits
    mu, std = encode_dataset(model, digits.test_x)
    assert mu.shape == std.shape == (300, 2) and (std > 0).all()
    expected_mu, _ = model.encode(digits.test_x[:5])
    torch.testing.assert_close(mu[:5], expected_mu.detach())


def test_decode_images_are_pixel_intensities(trained_digits):
    model, _ = trained_digits
    images = decode_images(model, torch.zeros(3, 2))
    assert images.shape == (3, 8, 8) and 0 <= images.min() and images.max() <= 1
    torch.testing.assert_close(images[0], torch.sigmoid(model.decode(torch.zeros(1, 2))).reshape(8, 8).detach())


def test_gaussian_grid_is_symmetric_and_follows_the_inverse_cdf():
    values = gaussian_grid_values(5, coverage=0.9)
    torch.testing.assert_close(values, -values.flip(0))
    assert values[-1].item() == pytest.approx(1.6449, abs=1e-3)  # the 95% quantile of N(0, 1)
    assert values[2].item() == pytest.approx(0.0, abs=1e-6)


def test_manifold_latents_tile_with_up_positive(trained_digits):
    model, _ = trained_digits
    grid = image_grid(decode_images(model, manifold_latents(2, n=4)), nrow=4, padding=1)
    assert grid.shape == (4 * 9 + 1, 4 * 9 + 1)
    values = gaussian_grid_values(4)
    top_left = decode_images(model, torch.tensor([[values[0], values[-1]]]))[0]  # low z0, high z1
    torch.testing.assert_close(grid[1:9, 1:9], top_left)


def test_pca_map_and_its_decoded_plane_share_coordinates(trained_digits):
    model, _ = trained_digits
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(200, 2, generator=g) @ torch.tensor([[3.0, 1.0], [0.0, 0.5]]) + torch.tensor([1.0, -2.0])
    centre, axes = pca_plane(mu)
    torch.testing.assert_close(axes @ axes.T, torch.eye(2), atol=1e-5, rtol=0)  # orthonormal directions
    xy = torch.from_numpy(project_2d(torch.cat([mu, torch.zeros(200, 1)], 1), "pca"))  # 3-D means on a plane
    assert xy[:, 0].var() > xy[:, 1].var()  # the first axis carries the most spread
    grid = image_grid(decode_images(model, plane_latents(centre, axes, (-2.0, 2.0, -1.0, 1.0), n=3)), nrow=3)
    top_left = decode_images(model, (centre - 2 * axes[0] + 1 * axes[1]).unsqueeze(0))[0]
    torch.testing.assert_close(grid[1:9, 1:9], top_left)


def test_image_grid_uses_torchvision_layout():
    images = torch.rand(6, 8, 8)
    grid = image_grid(images, nrow=3, padding=2)
    assert grid.shape == (2 * 10 + 2, 3 * 10 + 2)
    torch.testing.assert_close(grid[2:10, 12:20], images[1])


def test_lerp_and_slerp_join_the_endpoints():
    z0, z1 = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([-1.0, 3.0, 0.5])
    for path in (lerp(z0, z1, 7), slerp(z0, z1, 7)):
        assert path.shape == (7, 3)
        torch.testing.assert_close(path[0], z0)
        torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(lerp(z0, z1, 3)[1], (z0 + z1) / 2)


def test_slerp_keeps_the_norm_between_equal_norm_points():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    path = slerp(z0, z1, 9)
    torch.testing.assert_close(path.norm(dim=1), torch.full((9,), 3.0))
    assert lerp(z0, z1, 9).norm(dim=1)[4] < 2.2  # the straight line cuts through the low-norm middle


def test_slerp_between_unequal_norms_neither_overshoots_nor_sags():
    z0, z1 = torch.tensor([1.74, 0.1, -0.2]), torch.tensor([-0.3, 0.35, 0.1])
    path = slerp(z0, z1, 11)
    torch.testing.assert_close(path.norm(dim=1), torch.linspace(z0.norm().item(), z1.norm().item(), 11))
    cosines = (path / path.norm(dim=1, keepdim=True)) @ (z1 / z1.norm())
    assert torch.all(cosines[1:] >= cosines[:-1] - 1e-6)  # the direction turns steadily toward z1


def test_traversal_sweeps_one_dimension():
    path = traversal(torch.tensor([0.5, -0.5, 1.0]), dim=1, values=torch.linspace(-3, 3, 5))
    assert path[:, 1].tolist() == [-3.0, -1.5, 0.0, 1.5, 3.0]
    assert (path[:, 0] == 0.5).all() and (path[:, 2] == 1.0).all()


def test_project_2d_passes_2d_through_and_reduces_wider_latents():
    g = torch.Generator().manual_seed(0)
    two = torch.randn(50, 2, generator=g)
    assert np.allclose(project_2d(two), two.numpy())
    assert project_2d(torch.randn(50, 1, generator=g)).shape == (50, 2)
    wide = torch.randn(60, 6, generator=g) * torch.tensor([5.0, 4.0, 0.1, 0.1, 0.1, 0.1])
    pca = project_2d(wide, "pca")
    assert pca.shape == (60, 2) and pca[:, 0].var() > 10 * wide[:, 2].var().item()
    assert project_2d(wide, "tsne").shape == (60, 2)
    with pytest.raises(ConfigError, match="unknown projection"):
        project_2d(wide, "umap")


def test_a_posterior_on_a_map_s_plane_has_the_projected_centre_and_covariance():
    from vae_core.evaluation import posterior_on_plane

    centre, cov = posterior_on_plane([1.0, -2.0], [0.5, 2.0])
    np.testing.assert_allclose(centre, [1.0, -2.0])
    np.testing.assert_allclose(cov, np.diag([0.25, 4.0]))
    axes = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) / np.array([[np.sqrt(2)], [1.0]])
    centre, cov = posterior_on_plane([2.0, 0.0, 3.0], [1.0, 1.0, 0.5], centre=[0.0, 0.0, 1.0], axes=axes)
    np.testing.assert_allclose(centre, [np.sqrt(2), 2.0])
    np.testing.assert_allclose(cov, np.diag([1.0, 0.25]), atol=1e-12)  # an isotropic pair stays isotropic


@pytest.mark.parametrize("count, nrow, padding", [(7, 3, 1), (16, 4, 2), (30, 10, 0), (100, 10, 1)])
def test_image_grid_tiles_as_torchvision_s_make_grid(count, nrow, padding):
    """Written out so that the CLI does not import torchvision (a second of start-up); the same pixels."""
    import torchvision.utils

    images = torch.rand(count, 1, 8, 9)
    expected = torchvision.utils.make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)[0]
    assert torch.equal(image_grid(images, nrow, padding), expected)
    assert torch.equal(image_grid(images[:, 0], nrow, padding), expected)


def test_fewer_images_than_a_row_lie_over_their_reconstructions_not_beside_them(digits):
    """Four images with eight to a row drew one row: the originals, then their reconstructions beside them."""
    from vae_core.evaluation import reconstruction_rows

    model = VAE(Config(dataset="digits", hidden=(16,), latent_dim=2))
    grid = reconstruction_rows(model, digits.test_x[:4], per_row=8, padding=1)
    assert grid.shape == (2 * 8 + 3, 4 * 8 + 5)  # two rows of four 8x8 images, 1 px between and around
    assert torch.equal(grid[1:9, 1:9], digits.test_x[0].reshape(8, 8))  # the first original, at the top left
    assert reconstruction_rows(model, digits.test_x[:16], per_row=8).shape == (4 * 8 + 5, 8 * 8 + 9)
