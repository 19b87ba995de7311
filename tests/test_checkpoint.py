"""Checkpoints: round trips are exact, every kind of bad file is refused with a clear message, nothing is unpickled."""
import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from conftest import state_equal
from vae_core import VAE, CheckpointError, Config, load_checkpoint, save_checkpoint
from vae_core.checkpoint import CONFIG, METRICS, WEIGHTS
from vae_core.evaluation import decode_images


@pytest.fixture
def saved(tmp_path, trained_digits):
    model, history = trained_digits
    return save_checkpoint(model, tmp_path / "ckpt", history.epochs, {"nelbo": 1.0}), model


def test_round_trip_gives_identical_decodes(saved):
    folder, model = saved
    loaded = load_checkpoint(folder)
    assert loaded.config == model.config
    assert state_equal(loaded.model.state_dict(), model.state_dict())
    z = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(decode_images(loaded.model, z), decode_images(model, z))
    assert loaded.history[-1]["epoch"] == model.config.epochs and loaded.metrics == {"nelbo": 1.0}
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG, METRICS, WEIGHTS]  # no temp files left


def test_the_weights_file_alone_is_a_checkpoint(saved):
    folder, model = saved
    loaded = load_checkpoint(folder / WEIGHTS)
    assert loaded.config == model.config and state_equal(loaded.model.state_dict(), model.state_dict())
    assert json.loads((folder / CONFIG).read_text())["latent_dim"] == 2  # JSON beside the weights too


def test_truncated_weights(saved):
    folder, _ = saved
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(folder)


def test_random_bytes(saved):
    folder, _ = saved
    (folder / WEIGHTS).write_bytes(bytes(range(256)) * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(folder)


class _Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('unpickled!')",))


def test_a_pickle_is_never_unpickled(saved):
    folder, _ = saved
    (folder / WEIGHTS).write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)
    torch.save({"weights": torch.zeros(3)}, folder / WEIGHTS)  # torch's zip-pickle format
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)


def test_foreign_safetensors(tmp_path):
    save_file({"transformer.wte.weight": torch.zeros(10, 4)}, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="no config beside it or inside it"):
        load_checkpoint(tmp_path / "other.safetensors")
    save_file({"encoder.0.weight": torch.zeros(3)}, tmp_path / WEIGHTS, metadata={"format": "someone-else/2"})
    with pytest.raises(CheckpointError, match="format 'someone-else/2'"):
        load_checkpoint(tmp_path)


def test_config_that_disagrees_with_the_weights(saved):
    folder, model = saved
    config = json.loads((folder / CONFIG).read_text())
    (folder / CONFIG).write_text(json.dumps({**config, "latent_dim": 5}))
    with pytest.raises(CheckpointError, match="mu_head.weight has shape \\(2, 128\\), the config needs \\(5, 128\\)"):
        load_checkpoint(folder)
    (folder / CONFIG).write_text(json.dumps({**config, "arch": "conv"}))
    with pytest.raises(CheckpointError, match="foreign or mismatched"):
        load_checkpoint(folder)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"dataset": "digits", "colour": "red"}', "unknown config keys: colour"),
    ('{"dataset": "svhn"}', "unknown dataset 'svhn'"),
    ('{"latent_dim": 0}', "latent_dim must be a number >= 1"),
    ('[1, 2]', "must be a JSON object"),
])
def test_bad_config_json(saved, text, message):
    folder, _ = saved
    (folder / CONFIG).write_text(text)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(folder)
    assert str(folder / CONFIG) in str(err.value)


def test_nan_weights_damaged_metrics_and_missing_paths(saved, tmp_path):
    folder, model = saved
    (folder / METRICS).write_text("{")
    with pytest.raises(CheckpointError, match="metrics file is damaged"):
        load_checkpoint(folder)
    (folder / METRICS).unlink()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["mu_head.bias"][0] = float("nan")
    save_file(state, folder / WEIGHTS, metadata={"config": model.config.to_json()})
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no model.safetensors in this folder"):
        load_checkpoint(tmp_path / "empty")


def test_conv_model_round_trip(tmp_path):
    model = VAE(Config(dataset="mnist", arch="conv", hidden=(32,), latent_dim=3))
    loaded = load_checkpoint(save_checkpoint(model, tmp_path))
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(decode_images(loaded.model, z), decode_images(model, z))


def test_a_history_tells_each_setting_changed_while_it_trained():
    """A student changed the learning rate at step 37 and β at 54: the sidebar said only "β=1→0.2"."""
    from vae_core.records import beta_text, lr_text

    epochs = [{"changes": [{"step": 37, "lr": 0.01, "lr_before": 0.001}]},
              {"changes": [{"step": 54, "beta": 0.2, "beta_before": 1.0}, {"step": 80, "beta": 3.0, "lr": 0.002,
                                                                            "beta_before": 0.2, "lr_before": 0.01}]}]
    config = Config(dataset="digits", beta=3.0, lr=0.002)
    assert beta_text(config, epochs) == "β=1→0.2→3 (changed at steps 54, 80)"
    assert lr_text(epochs) == "learning rate 0.001→0.01→0.002 (changed at steps 37, 80)"
    assert lr_text([]) == "" and beta_text(config, []) == "β=3"
    # what it began with (the Train page fills its form with it): the first change of each says what was before
    from vae_core.records import started_with

    assert (started_with(config, epochs).beta, started_with(config, epochs).lr) == (1.0, 0.001)
    older = [{"changes": [{"step": 54, "beta": 0.2}, {"step": 80, "beta": 3.0, "beta_before": 0.2}]}]
    assert started_with(config, older) == config  # older records do not say: the config's own, not a middle value
