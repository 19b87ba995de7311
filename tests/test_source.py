"""ui/source.py: the code shown beside the formulas is the running functions' own source, every term's lines are
found and compute the term, a term whose line is gone fails loudly, and the reduction lesson's two loss lines."""
import dataclasses
import inspect
import re

import pytest
import torch
import torch.nn.functional as F

from headless import ROOT, code_shown
from ui import source
from vae_core import model, objective

# What the lines of each term must contain: the computation itself, not a comment or a name about it
COMPUTES = {"mu": ["self.mu_head(h)", "nn.Linear("], "logvar": ["self.logvar_head(h)", "nn.Linear("],
            "z": ["torch.randn(", "mu + eps * torch.exp(0.5 * logvar)"],
            "decoder": ["self.decoder(z)", "binary_cross_entropy_with_logits("],
            "recon": ["binary_cross_entropy_with_logits(", ".sum(-1)", "recon.mean(-1)"],
            "kl": ["mu.pow(2)", "logvar.exp()", "- logvar - 1", "kld.sum(-1)"], "beta": ["beta * kl_term"]}


def test_the_code_shown_is_the_source_of_the_functions_that_run_with_their_line_numbers():
    lines, _ = code_shown(source.formulas_html(source.listings()))
    expected = []
    for function in (model.VAE.__init__, model.VAE.encode, model.VAE.reparameterize, model.VAE.decode,
                     objective.negative_elbo, objective.recon_nll, objective.bernoulli_nll, objective.kl_per_dim,
                     objective.combine):
        assert function in source.SHOWN
    for function in source.SHOWN:
        text, first = inspect.getsource(function), inspect.getsourcelines(function)[1]
        file = inspect.getsourcefile(function)
        assert file.startswith(str(ROOT / "vae_core"))
        expected += [(first + i, line) for i, line in enumerate(text.split("\n")[:-1])]
        on_disk = open(file).read().split("\n")
        assert all(on_disk[first + i - 1] == line for i, line in enumerate(text.split("\n")[:-1]))
    assert [(line["number"], line["text"]) for line in lines] == expected


def test_every_term_links_to_the_lines_that_compute_it():
    lines, links = code_shown(source.formulas_html(source.listings()))
    assert set(links) == {f"#vae-src-{key}" for key in COMPUTES}
    assert links["#vae-src-beta"] == "β" and "μ" in links["#vae-src-mu"] and "KL" in links["#vae-src-kl"]
    for key, parts in COMPUTES.items():
        lit = [line["text"] for line in lines if key in line["terms"]]
        for part in parts:
            assert any(part in text for text in lit), (key, part, lit)
        assert not any(text.strip().startswith(("#", '"""')) for text in lit), (key, lit)  # code, not comments
        first = next(line for line in lines if key in line["terms"])
        assert f"vae-src-{key}" in first["anchors"]  # the link goes to the term's first line
    anchors = [a for line in lines for a in line["anchors"]]
    assert sorted(anchors) == sorted(f"vae-src-{key}" for key in COMPUTES)  # each once: ids are unique


def test_the_kl_lines_compute_the_closed_form_and_the_z_lines_the_draw():
    """The lit lines, run: the KL line gives KL(N(mu, sigma^2) || N(0, 1)) and the z lines mu + eps * sigma."""
    shown = {listing.name: listing for listing in source.listings()}
    places = source.locate(list(shown.values()))
    kl_line = next(shown[name].lines[i].strip() for name, i in places["kl"] if name == "kl_per_dim")
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    kl = eval(kl_line.removeprefix("return "), {"mu": mu, "logvar": logvar})
    reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                  torch.distributions.Normal(0.0, 1.0))
    torch.testing.assert_close(kl, reference)
    z_lines = [shown[name].lines[i].strip() for name, i in places["z"] if name == "VAE.reparameterize"]
    scope = {"torch": torch, "mu": mu, "logvar": logvar, "generator": torch.Generator().manual_seed(0)}
    exec(z_lines[0], scope)
    z = eval(z_lines[1].removeprefix("return "), scope)
    torch.testing.assert_close(z, mu + scope["eps"] * logvar.mul(0.5).exp())


@pytest.mark.parametrize("function, old, new", [
    ("kl_per_dim", "logvar.exp()", "torch.exp(logvar)"),      # the KL rewritten
    ("VAE.encode", "self.mu_head(h)", "self.mean_head(h)"),   # a head renamed
    ("combine", "beta * kl_term", "beta * kl_loss")])         # beta's line changed
def test_a_term_whose_line_changed_is_not_found_and_says_which(function, old, new):
    shown = source.listings()
    drifted = [dataclasses.replace(s, lines=tuple(line.replace(old, new) for line in s.lines))
               if s.name == function else s for s in shown]
    with pytest.raises(LookupError, match=rf"{re.escape(function)} contains '[^']*{re.escape(old)}"):
        source.locate(drifted)
    with pytest.raises(LookupError):
        source.formulas_html(drifted)


def test_the_summed_lines_are_read_from_the_objective_and_the_averaged_ones_compute_its_mean_option():
    excerpts = source.summed_excerpts()
    assert [listing.name for listing, _, _ in excerpts] == ["bernoulli_nll", "kl_per_dim", "combine"]
    for listing, first, lines in excerpts:
        original = inspect.getsource(getattr(objective, listing.name)).split("\n")
        assert [line.strip() for line in lines] == [line.strip() for line in original[first:first + len(lines)]]
    text = "\n".join(line for _, _, lines in excerpts for line in lines)
    assert 'reduction="none").sum(-1)' in text and "loss=recon.mean(-1) / divisor + beta * kl_term" in text
    # The averaged version, run, is our objective with recon_reduction "mean": beta times the pixels in disguise
    x = torch.rand(6, 64).round()
    x_logits, mu, logvar = torch.randn(6, 64), torch.randn(6, 4), torch.randn(6, 4)
    scope = {"F": F, "torch": torch, "x": x, "x_hat": torch.sigmoid(x_logits), "mu": mu, "logvar": logvar,
             "beta": 0.5}
    exec(source.AVERAGED, scope)
    ours = objective.negative_elbo(x, x_logits, mu, logvar, beta=0.5, recon_reduction="mean").loss
    torch.testing.assert_close(scope["loss"], ours)
    summed = objective.negative_elbo(x, x_logits, mu, logvar, beta=0.5).loss
    assert summed > 10 * ours  # the sum over 64 pixels is far larger than their mean
