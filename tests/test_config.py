"""Config: the one holder of hyperparameters; its size limit, its parser of layer sizes, its JSON."""
import dataclasses
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from vae_core import VAE, CheckpointError, Config, ConfigError, load_checkpoint
from vae_core.cli import build_parser
from vae_core.flags import config_from_args
from vae_core.config import MAX_MULTIPLY_ADDS, MAX_PARAMETERS, parse_sizes


@pytest.mark.parametrize("changes", [
    {}, {"dataset": "mnist", "hidden": (512, 256), "latent_dim": 20},
    {"arch": "conv", "hidden": (32,), "latent_dim": 3},
    {"arch": "conv", "dataset": "mnist", "channels": (16, 8), "hidden": (64, 32), "latent_dim": 5},
    {"arch": "conv", "dataset": "digits", "channels": (4, 8, 12), "hidden": (10,)},
])
def test_the_parameter_count_and_multiply_adds_are_the_model_s(changes):
    from torch.utils.flop_counter import FlopCounterMode

    config = Config(**changes)
    model = VAE(config)
    assert config.parameter_count == sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counted:
        model(torch.rand(1, config.input_dim))
    assert config.multiply_adds == counted.get_total_flops() // 2


def test_conv_channel_widths_travel_with_the_config():
    config = Config(dataset="mnist", arch="conv", channels=(8, 16), hidden=(32,))
    assert Config.from_dict(json.loads(config.to_json())) == config
    assert VAE(config).encoder[1].out_channels == 8
    with pytest.raises(ConfigError, match="3 stride-2 convolutions need image sides divisible by 8"):
        Config(dataset="mnist", arch="conv", channels=(8, 8, 8))
    assert Config.from_dict({"dataset": "digits"}).channels == (32, 64)  # older checkpoints had no field


@pytest.mark.parametrize("changes, message", [
    ({"hidden": (100_000, 100_000)}, f"weights, above the limit of {MAX_PARAMETERS:,}"),
    # 1 KB of upload, 20,000 latent dimensions: the pages' test-set codes took the server to 18 GB
    ({"dataset": "mnist", "hidden": (1,), "latent_dim": 20_000}, "latent_dim must be at most 512"),
    # an 81 KB upload of zeros whose 800 channels held two CPUs for 4.5 minutes while it was scored
    ({"dataset": "mnist", "arch": "conv", "channels": (800, 800), "hidden": (1,), "latent_dim": 1},
     f"1,008,616,003 multiply-adds to encode and decode one image, above the limit of {MAX_MULTIPLY_ADDS:,}")])
def test_a_huge_model_is_refused_before_anything_is_allocated(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config(**changes)


def test_layer_sizes_are_parsed_once_for_the_cli_and_the_form():
    assert parse_sizes("512,256") == (512, 256) and parse_sizes(" 400 ") == (400,)
    with pytest.raises(ConfigError, match="comma-separated integers like 400 or 512,256, got '12a'"):
        parse_sizes("12a")


def test_every_config_field_has_a_cli_flag_with_config_s_default():
    args = build_parser().parse_args(["train", "--out", "x"])
    assert config_from_args(args) == Config()
    settable = {f.name for f in dataclasses.fields(Config) if f.init}
    assert settable <= set(vars(args))


@pytest.mark.parametrize("changes, message", [
    ({"ema": 1.0}, "ema is a decay per step, below 1"), ({"ema": -0.1}, "ema must be a number >= 0"),
    ({"lr_decay": 1.5}, "lr_decay is a fraction of the epochs"), ({"lr_decay": "half"}, "lr_decay must be a number")])
def test_training_schedule_settings_out_of_range_are_refused_with_their_range(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config(**changes)


def test_a_checkpoint_claiming_a_huge_model_costs_no_memory(tmp_path):
    """The tensors' shapes are checked against the claimed config before any model is built."""
    claim = Config(dataset="mnist", hidden=(3000, 3000), latent_dim=500)  # 28 M weights, 113 MB: within the limit
    tensors = {k: torch.zeros(1) for k in VAE(Config(dataset="mnist", hidden=(1, 1), latent_dim=1)).state_dict()}
    save_file(tensors, tmp_path / "claim.safetensors", metadata={"config": claim.to_json()})
    with pytest.raises(CheckpointError, match="has shape \\(1,\\), the config needs"):
        load_checkpoint(tmp_path / "claim.safetensors")
    script = ("import resource, sys; from vae_core import load_checkpoint\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "try: load_checkpoint(sys.argv[1])\nexcept Exception: pass\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)")
    grown_kb = int(subprocess.run([sys.executable, "-c", script, str(tmp_path / "claim.safetensors")],
                                  capture_output=True, text=True, check=True).stdout)
    assert grown_kb < 50_000, f"loading the claim grew the process by {grown_kb} kB"  # building it: 127 MB
