"""Checkpoint folders: writing and loading them (safetensors + JSON, atomically, never pickled), finding and
summarising them under a root, importing an upload, and naming a new run's folder.

A checkpoint is a folder holding model.safetensors, config.json and metrics.json. The weights file also
carries the config in its metadata, so a single .safetensors file (an upload, say) is a complete
checkpoint too.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import Config
from .errors import CheckpointError, ConfigError, DataError
from .evaluation import evaluate
from .model import VAE
from .records import beta_text, read_metrics

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.json"
RECORDING = "recording.safetensors"  # snapshots of the run as it trained (vae_core/recording.py)
FORMAT = "vae-lab/1"  # marks our files among other safetensors
WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)  # what a weights file may hold
EMPTY_RUN_S = 3600  # an empty run folder this old was left by a server killed mid-run
PARTIAL = ".partial"  # the suffix of a file being written; one left behind by a killed process is stale
MAX_CONFIG_BYTES = 64 * 2**10  # a config is about 1 KB
MAX_HEADER_BYTES = 2**20  # a safetensors header of ours: under 2 KB (a few tensors' names and the config)
MAX_UPLOAD_MB = 256
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20  # an upload (or what its zip unpacks to) larger than this is refused unread
UPLOADS = "uploads"
MOST_NAME = 80  # characters of an upload's file name that the app repeats
# Entries of a zip upload at most, counted before zipfile reads its directory: an 84 MB zip of a million empty
# entries took 15 s and 500 MB to refuse (one within the upload limit, three times that)
MOST_ZIP_ENTRIES = 1000
# All uploads kept on a server together: past this, new ones are refused (each stays while a session may use it;
# changing one byte of a file made a new upload of up to MAX_UPLOAD_MB each time)
UPLOADS_SPACE_MB = 2048


@dataclass
class Checkpoint:
    model: VAE
    path: Path
    history: list[dict] = field(default_factory=list)  # one record per epoch (see training.epoch_record)
    metrics: dict = field(default_factory=dict)        # final test metrics (see evaluation.evaluate)

    @property
    def config(self) -> Config:
        return self.model.config


# ---- writing ----

def save_checkpoint(model: VAE, directory: str | Path, history: list[dict] | None = None,
                    metrics: dict | None = None) -> Path:
    """Write model's weights, config and metrics into directory (created if needed)."""
    return write_checkpoint(directory, model.config, model.state_dict(), history, metrics)


def write_checkpoint(directory: str | Path, config: Config, tensors: dict, history: list[dict] | None = None,
                     metrics: dict | None = None) -> Path:
    """Write the three files of a checkpoint from a state dict; each appears whole or not at all."""
    directory = Path(directory)
    text = metrics_text(directory, history, metrics)  # refused before anything is written
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(directory)
    config_json = config.to_json()
    tensors = {k: torch.as_tensor(v).detach().float().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(directory / WEIGHTS, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT,
                                                                                    "config": config_json}))
    atomic_write(directory / CONFIG, lambda tmp: Path(tmp).write_text(config_json + "\n"))
    atomic_write(directory / METRICS, lambda tmp: Path(tmp).write_text(text))
    return directory


def save_metrics(directory: str | Path, history: list[dict] | None, metrics: dict | None) -> None:
    """(Re)write a checkpoint's metrics.json: the per-epoch history and the final test metrics."""
    text = metrics_text(directory, history, metrics)
    atomic_write(Path(directory) / METRICS, lambda tmp: Path(tmp).write_text(text))


def metrics_text(directory: str | Path, history: list[dict] | None, metrics: dict | None) -> str:
    """metrics.json's text; CheckpointError where a value is NaN or infinite, which no reader accepts (a file
    written with one made its checkpoint unreadable)."""
    data = {"history": history or [], "metrics": metrics or {}}
    try:
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise CheckpointError(f"{Path(directory).name}: not saved: {_not_finite(data)} is not a finite number") \
            from None


def _not_finite(value, where: str = "") -> str:
    """The path of the first NaN or infinity in a JSON-like value ("" if none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} ({value})"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _not_finite(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]")
        if found:
            return found
    return ""


def record_iwae(checkpoint: Checkpoint, estimates: dict) -> None:
    """Keep IWAE estimates (k -> evaluation.iwae_estimate's result) in a checkpoint folder's metrics.json, under
    "iwae" by k, beside those it already holds, so that each is computed once."""
    if not Path(checkpoint.path).is_dir():
        raise CheckpointError(f"{checkpoint.path}: a lone weights file has no metrics.json to keep estimates in")
    known = {**checkpoint.metrics.get("iwae", {}), **{str(k): v for k, v in estimates.items()}}
    metrics = {**checkpoint.metrics, "iwae": known}
    save_metrics(checkpoint.path, checkpoint.history, metrics)  # (refuses a NaN estimate: nothing changes)
    checkpoint.metrics = metrics


def atomic_write(path: Path, write) -> None:
    # The writer's process id is in the temporary's name, so a later run can tell a stale one (its writer died).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=PARTIAL, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is for anyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_partials(folder: Path, max_age_s: float = 86400) -> None:
    """Delete temporaries in folder left by a writer that died (killed mid-save) or that are a day old."""
    for tmp in Path(folder).glob(f".*{PARTIAL}"):
        try:
            pid = int(tmp.name.removesuffix(PARTIAL).split(".")[-2])
        except (ValueError, IndexError):
            pid = None
        try:
            if pid is None or not _alive(pid) or time.time() - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
        except OSError:
            pass  # gone already, or not ours to delete


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_writable(folder: str | Path) -> Path:
    """Create folder (and its parents) and prove a file can be written in it, before any work is done.

    Raises CheckpointError naming the path that cannot be written and why.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"cannot write a checkpoint to {folder}: it is a file, not a folder")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CheckpointError(f"cannot write a checkpoint to {folder}: {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".probe.{os.getpid()}.", suffix=PARTIAL):
            pass
    except OSError as e:
        where = f"{e.filename}: " if e.filename and Path(e.filename) != folder else ""
        raise CheckpointError(f"cannot write a checkpoint to {folder}: {where}{e.strerror or e}") from None
    return folder


# ---- naming and finding ----

def run_name(what: Config | str) -> str:
    """What a run folder is called after its time stamp: dataset, latent size and beta, or a given word."""
    if isinstance(what, Config):
        return f"{what.dataset}-z{what.latent_dim}-beta{what.beta:g}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", what).strip("-.") or "run"


RUN_TOKEN = 6  # random bytes at the end of a run folder's name (new_run_dir)
# a run folder's name as new_run_dir makes it: date, hour, minute, second, run_name, random part
RUN_FOLDER = re.compile(rf"(\d{{8}})-(\d\d)(\d\d)(\d\d)-(.+)-[0-9a-f]{{{2 * RUN_TOKEN}}}")


def shown_name(name: str, beta: float | None = None) -> str:
    """A folder's name as a list of models shows it: a run's without its random part, which keeps the run from
    being guessed but tells no one which run it is (its time and settings do). With beta (its config's, the last
    value a run took), a run named for another β when it started says both: ...-beta1→5."""
    run = RUN_FOLDER.fullmatch(name)
    if run is None:
        return name
    shown = name[:-2 * RUN_TOKEN - 1]
    started = re.fullmatch(r".+-beta(\d[0-9.e+-]*)", run[5])
    if beta is not None and started:
        with contextlib.suppress(ValueError):
            if float(started.group(1)) != beta:
                return f"{shown}→{beta:g}"
    return shown


def run_tag(path: str | Path) -> str:
    """The start of the random part of the run a checkpoint folder is (or is a member of): what tells apart two
    runs that shown_name shows alike (started in one second with the same settings, as a class told to press Train
    at once does). "" for a folder that is no run of ours."""
    for name in (Path(path).name, Path(path).parent.name):
        if RUN_FOLDER.fullmatch(name):
            return name[-2 * RUN_TOKEN:][:4]
    return ""


def new_run_dir(root: str | Path, what: Config | str) -> Path:
    """Create and return a new, empty folder under root for one run: the time, run_name(what) and a random part,
    e.g. 20261204-163000-digits-z2-beta1-5f1c0a93e2b7. The random part keeps a run from being opened by guessing
    its name (a link names it: in class mode that is how a run is shared, and only so); creating a folder is
    atomic, so two runs never get one folder, across threads and processes.

    Empty run folders an hour old are removed first: a server killed during a run leaves one (a run still training
    writes its folder again when it saves), as are temporaries a killed writer left.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and not old.name.startswith("."):
            remove_stale_partials(old)
            with contextlib.suppress(OSError):  # not empty, or gone meanwhile
                if time.time() - old.stat().st_mtime > EMPTY_RUN_S and not any(old.iterdir()):
                    old.rmdir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    while True:
        folder = root / f"{stamp}-{run_name(what)}-{secrets.token_hex(RUN_TOKEN)}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def find_checkpoints(root: str | Path, depth: int = 3) -> list[Path]:
    """Checkpoint folders (those holding model.safetensors) at most depth levels below root, sorted by path.

    Hidden folders (an upload being checked) are skipped, as are folders whose names are not UTF-8 (copied in from
    another system: no page can show, cache or link such a name, and one of them in the runs folder gave every
    page's sidebar a UnicodeEncodeError). A folder reached twice through a link (runs/loop -> runs listed each run
    three times) is listed once, by its shortest path.
    """
    root, found = Path(root), []
    if not root.is_dir():
        return found
    for level in range(1, depth + 1):
        pattern = "/".join(["*"] * level) + f"/{WEIGHTS}"
        found += [p.parent for p in root.glob(pattern)
                  if not any(part.startswith(".") for part in p.parent.relative_to(root).parts) and _utf8(p)]
    return sorted({p.resolve(): p for p in reversed(found)}.values())  # (found: the shortest paths first)


def _utf8(path: Path) -> bool:
    try:
        str(path).encode()
    except UnicodeEncodeError:  # (a byte that is not UTF-8 comes back as a lone surrogate)
        return False
    return True


@dataclass(frozen=True)
class Summary:
    """What a list of models shows of one checkpoint, read from its JSON alone (no weights are loaded)."""
    path: Path
    config: Config
    epochs: int      # epochs in its training history (0 if unknown)
    metrics: dict    # final test metrics, {} if never scored
    beta: str        # β as it trained, every value it took (records.beta_text without steps: "β=0.5→8")

    @property
    def name(self) -> str:
        """The folder's name; an upload's says so, with the start of its digest (a downloaded run uploaded again is
        told apart from the run, and two uploads of one name from each other); a member of runs trained together
        (a sweep's beta-3) is named with its group and the time it started, to the second ("sweep-digits 22:53:07 ·
        beta-3": alone, it read as the shipped sweep's; to the minute, two groups started in one minute read alike)."""
        name = self.path.name.removesuffix(".safetensors")
        if self.path.parent.parent.name == UPLOADS:
            return f"{name} (upload {self.path.parent.name[:6]})"
        group = RUN_FOLDER.fullmatch(self.path.parent.name)
        return f"{group[5]} {group[2]}:{group[3]}:{group[4]} · {name}" if group else name

    @property
    def label(self) -> str:
        """Name, then its details."""
        return f"{shown_name(self.name, self.config.beta)} · {self.details}"

    @property
    def details(self) -> str:
        """Dataset, latent size ("8-D": "z=8" read as a value of z), β and how the reconstruction was summed (a model
        trained on its mean over pixels looked like any β=1 one), and the test −ELBO."""
        c, nelbo = self.config, self.metrics.get("nelbo")
        score = f" · test −ELBO {nelbo:.1f} nats" if nelbo is not None else ""
        return f"{c.dataset} · {c.latent_dim}-D · {self.beta}{score}"


def summarize(path: str | Path) -> Summary:
    """The config and metrics of a checkpoint folder or weights file, without loading its weights."""
    path = Path(path)
    weights = path / WEIGHTS if path.is_dir() else path
    if path.is_dir() and (path / CONFIG).is_file():
        config = _config_from_file(path / CONFIG)
    elif weights.is_file():
        config = _config_from_metadata(weights, _read_metadata(weights))
    else:
        raise CheckpointError(f"{path}: no such checkpoint (moved or deleted?)")
    history, metrics = read_metrics(path / METRICS, config.latent_dim) if path.is_dir() else ([], {})
    # β as it trained, every value it took (Compare named a run raised from β = 0.5 to 8 "β=8")
    return Summary(path, config, len(history), metrics, beta_text(config, history, steps=False))


def sweep_members(folder: str | Path) -> list[Summary]:
    """The checkpoints of a beta sweep (one folder each, directly under folder), by increasing beta."""
    return sorted((summarize(p) for p in find_checkpoints(folder, depth=1)), key=lambda s: s.config.beta)


# ---- importing an upload ----

def import_checkpoint(data: bytes, filename: str, root: str | Path,
                      test_images: Callable[[str], torch.Tensor] | None = None,
                      space_mb: float = UPLOADS_SPACE_MB) -> Path:
    """Check an uploaded checkpoint and keep it as a folder under root/uploads/; returns the folder.

    data is a weights file alone (.safetensors) or a zip of a checkpoint folder (as the app's model download
    makes; a recording in it comes along, checked as the replay reads it). The folder is named by the file's name
    (made safe and short) under a digest of its bytes, so the same upload twice lands in one place. A refused
    upload raises CheckpointError naming filename and the problem, and leaves nothing behind. An upload without test metrics is scored on test_images(its dataset's
    name), when given and those images are here (a DataError leaves it unscored), so that lists of models show
    its nats like any other's; one whose score is not finite is refused. Uploads kept under root take at most
    space_mb megabytes together.
    """
    stem = run_name(re.sub(r"\.(safetensors|zip)$", "", Path(filename).name, flags=re.I))[:64]
    zipped = data[:4] == b"PK\x03\x04" or filename.lower().endswith(".zip")  # (random bytes named .zip were
    # refused as "not a readable safetensors file")
    filename = upload_name(filename)  # as a refusal names it
    final = Path(root) / UPLOADS / hashlib.sha256(data).hexdigest()[:16] / stem
    if (final / WEIGHTS).is_file():
        return final
    if len(data) > MAX_UPLOAD_BYTES:
        raise CheckpointError(f"{filename} refused: {len(data) / 2**20:,.0f} MB, more than the {MAX_UPLOAD_MB} MB "
                              "accepted")
    files = _zip_members(data, filename) if zipped else {WEIGHTS: data}
    uploads = final.parent.parent
    used, size = _size_of(uploads), sum(map(len, files.values()))
    if used + size > space_mb * 2**20:
        raise CheckpointError(f"{filename} refused: the uploads kept here take {used / 2**20:,.1f} MB of the "
                              f"{space_mb:,.1f} MB they may, and this one needs {size / 2**20:,.1f} MB more")
    first = not uploads.exists()  # this is the first upload: a refused one leaves no empty uploads/ folder either
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".checking-", dir=final.parent))
    try:
        for name, content in files.items():
            (staging / name).write_bytes(content)
        try:
            checkpoint = load_checkpoint(staging)
        except CheckpointError as e:  # named as the user knows it: the file, or the zip's member (not a folder
            text = str(e) if zipped else str(e).replace(str(staging / WEIGHTS), filename)  # of ours)
            text = text.replace(str(staging) + os.sep, filename + ": ").removeprefix(filename + ": ")  # named once
            raise CheckpointError(f"{filename} refused: {text}") from None
        if test_images is not None and not checkpoint.metrics:
            _score(checkpoint, test_images, filename)
        if (staging / RECORDING).is_file():
            from .recording import load_recording  # (it imports this module)
            try:
                load_recording(staging, checkpoint.config.latent_dim, checkpoint.config.image_shape)
            except CheckpointError as e:
                text = str(e).replace(str(staging / RECORDING), RECORDING)
                raise CheckpointError(f"{filename} refused: {text}") from None
        try:
            os.replace(staging, final)
        except OSError:
            if not (final / WEIGHTS).is_file():
                raise
            # the same bytes, imported at the same moment by another session, got there first: the same folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: another import of the same file is under way, or done
            final.parent.rmdir()
            if first:
                uploads.rmdir()
    return final


def upload_name(filename: str) -> str:
    """An upload's file name as the app repeats it (its refusal, the sidebar's "Checking ..."): at most MOST_NAME
    characters, its end kept (the browser sends any name: one of 10,000 characters was repeated whole), control
    characters as '?'."""
    name = "".join(c if c.isprintable() else "?" for c in filename)
    return name if len(name) <= MOST_NAME else name[:MOST_NAME - 21] + "…" + name[-20:]


def _size_of(folder: Path) -> int:
    """Bytes of the files under folder (0 if there is none)."""
    total = 0
    for root, _, files in os.walk(folder):  # (which skips a folder removed meanwhile, as another session's upload
        for name in files:                  # being checked is; rglob raised FileNotFoundError on it)
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _score(checkpoint: Checkpoint, test_images: Callable[[str], torch.Tensor], filename: str) -> None:
    """Score an unscored upload (being checked in its staging folder) on its test images, if they are here; an
    upload whose weights give no finite score is refused (weights of 1e38 pass as finite, and overflow)."""
    try:
        test_x = test_images(checkpoint.config.dataset)
    except DataError:
        return  # its test images are not here: the model still works, unscored
    metrics = evaluate(checkpoint.model, test_x, seed=checkpoint.config.seed)
    if found := _not_finite(metrics):
        raise CheckpointError(f"{filename} refused: its weights give no finite score on its test images "
                              f"({found.lstrip('.')} is not a finite number)")
    save_metrics(checkpoint.path, checkpoint.history, metrics)


def _zip_members(data: bytes, filename: str) -> dict[str, bytes]:
    """The checkpoint files in a zip: model.safetensors at its top or in one folder, with the JSON and the recording
    beside it."""
    if data.count(b"PK\x01\x02") > MOST_ZIP_ENTRIES:  # central directory records (a few more by chance, never 1,000)
        raise CheckpointError(f"{filename} refused: a zip of more than {MOST_ZIP_ENTRIES:,} entries; a checkpoint "
                              "folder's holds a few")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        weights = [i for i in archive.infolist() if Path(i.filename).name == WEIGHTS and i.filename.count("/") <= 1]
        if len(weights) != 1:  # (its entries named, so that one placed deeper, or named ../x, is seen to be there)
            names = [i.filename for i in archive.infolist()]
            held = (", ".join(repr(n if len(n) <= 40 else n[:40] + "…") for n in names[:3])
                    + (f" and {len(names) - 3} more" if len(names) > 3 else ""))
            raise CheckpointError(f"{filename} refused: a zip upload must hold one {WEIGHTS}, at its top or in one "
                                  f"folder (found {len(weights)}; it holds {held or 'nothing'})")
        folder = weights[0].filename.removesuffix(WEIGHTS)
        members = {name: archive.getinfo(folder + name) for name in (WEIGHTS, CONFIG, METRICS, RECORDING)
                   if folder + name in archive.namelist()}
        budget, files = MAX_UPLOAD_BYTES, {}
        for name, info in members.items():
            if info.flag_bits & 0x1:  # (zipfile asks for a password: a RuntimeError)
                raise CheckpointError(f"{filename} refused: its {name} is encrypted")
            if info.file_size > budget:
                raise CheckpointError(f"{filename} refused: it unpacks to more than {MAX_UPLOAD_MB} MB")
            with archive.open(info) as member:  # read no further than the budget, whatever the zip claims
                files[name] = member.read(min(budget, info.file_size) + 1)
            if len(files[name]) > info.file_size:
                raise CheckpointError(f"{filename} refused: {name} inflates past the {info.file_size:,} bytes "
                                      "its zip entry claims")
            budget -= len(files[name])
        return files
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as e:  # (Not...: a
        # compression method zipfile cannot inflate)
        raise CheckpointError(f"{filename} refused: not a readable zip file ({e})") from None


def zip_checkpoint(folder: str | Path) -> bytes:
    """A checkpoint folder as zip bytes (its folder name inside), its recording too, which import_checkpoint
    accepts back."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in (WEIGHTS, CONFIG, METRICS, RECORDING):
            if (folder / name).is_file():
                archive.write(folder / name, f"{folder.name}/{name}")
    return buffer.getvalue()


# ---- loading ----

def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder (or a lone .safetensors file), checking every part before trusting it.

    The tensors' shapes are checked against the config before a model is built, so a file that claims a
    huge model costs nothing.
    """
    path = Path(path)
    if path.is_dir():
        weights = path / WEIGHTS
        if not weights.is_file():
            raise CheckpointError(f"{path}: no {WEIGHTS} in this folder; is it a checkpoint folder?")
        config = _config_from_file(path / CONFIG) if (path / CONFIG).is_file() else None
    elif path.is_file():
        weights, config = path, None
    else:
        raise CheckpointError(f"{path}: no such checkpoint file or folder")

    tensors, metadata = _read_safetensors(weights)
    if config is None:
        config = _config_from_metadata(weights, metadata)
    history, metrics = read_metrics(path / METRICS, config.latent_dim) if path.is_dir() else ([], {})
    with torch.device("meta"):  # shapes only: nothing is allocated
        expected = VAE(config).state_dict()
    _check_tensors(weights, tensors, expected)
    model = VAE(config)
    model.load_state_dict(tensors)
    model.to(device).eval()
    return Checkpoint(model=model, path=path, history=history, metrics=metrics)


def _config_from_file(path: Path) -> Config:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{path}: a config of {path.stat().st_size:,} bytes, more than the "
                                  f"{MAX_CONFIG_BYTES:,} a config takes")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from None
    return _parse_config(text, str(path))


def _config_from_metadata(weights: Path, metadata: dict) -> Config:
    if "config" not in metadata:
        raise CheckpointError(f"{weights}: no config beside it or inside it; not a vae-lab checkpoint")
    return _parse_config(metadata["config"], f"{weights} (metadata)")


def _parse_config(text: str, where: str) -> Config:
    try:
        return Config.from_dict(json.loads(text))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{where}: config is not valid JSON ({e.msg} at line {e.lineno})") from None
    except ConfigError as e:
        raise CheckpointError(f"{where}: {e}") from None
    except (RecursionError, ValueError) as e:  # nested too deep for the parser; a number too long to read
        raise CheckpointError(f"{where}: config is damaged ({type(e).__name__})") from None


def _read_metadata(path: Path) -> dict:
    return _read_safetensors(path, tensors=False)[1]


def check_header(path: Path) -> None:
    """ValueError for a safetensors file whose header (the JSON naming its tensors) is over MAX_HEADER_BYTES, before
    it is parsed: 20 MB of header naming 300,000 empty tensors took 7 s and 600 MB to read, 90 MB 47 s and 1.6 GB."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if size > os.path.getsize(path) - 8:  # (a text file's first 8 letters read as "a header of 7,526,676,...")
            raise ValueError("its first bytes are not a safetensors file's: another kind of file, renamed, or one "
                             "cut short")
        if size > MAX_HEADER_BYTES:
            raise ValueError(f"a header of {size:,} bytes, more than the {MAX_HEADER_BYTES:,} of this lab's files")
        try:  # (else the library's words: "Error while deserializing header: invalid JSON in header: EOF while
            header = json.loads(f.read(size))  # parsing a value at line 1 column 0")
        except (ValueError, RecursionError):  # (a megabyte of "[" nests past Python's stack)
            header = None
    if not isinstance(header, dict):
        raise ValueError("its header, the list of its tensors, is not readable: a damaged file, or another kind")


def _read_safetensors(path: Path, tensors: bool = True) -> tuple[dict, dict]:
    """(tensors, metadata) of a weights file of ours; tensors are read only if asked for and the format is ours."""
    try:
        check_header(path)
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format", FORMAT) != FORMAT:
                raise CheckpointError(f"{path}: format {metadata['format']!r}, expected {FORMAT!r}")
            return ({key: f.get_tensor(key) for key in f.keys()} if tensors else {}), metadata
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file, truncated or corrupt ({e})") from None


def _check_tensors(path: Path, tensors: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match the config's model "
                              f"(missing: {', '.join(missing[:4]) or 'none'}; "
                              f"unexpected: {', '.join(unexpected[:4]) or 'none'}); a foreign or mismatched file?")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise CheckpointError(f"{path}: tensor {key} has shape {tuple(tensors[key].shape)}, "
                                  f"the config needs {tuple(value.shape)}")
        if tensors[key].dtype not in WEIGHT_DTYPES:  # (float8's: torch.isfinite is not implemented for them)
            raise CheckpointError(f"{path}: tensor {key} has dtype {tensors[key].dtype}, expected one of "
                                  f"{', '.join(str(t).removeprefix('torch.') for t in WEIGHT_DTYPES)}")
        if not torch.isfinite(tensors[key]).all():
            raise CheckpointError(f"{path}: tensor {key} holds NaN or infinite values")
