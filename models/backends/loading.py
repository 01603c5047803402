"""Load a vision-language model and its processor, offline, at a chosen precision.

:func:`load_model` takes a local folder or a Hugging Face hub id. A hub id is only looked up in
the local Hugging Face cache (``local_files_only``): loading never downloads and never waits on
hub retries; a missing model fails at once with :class:`~models.errors.ModelNotFoundError`
naming the ``radlens models pull`` command.

Precisions (:class:`Precision`):

- ``nf4``: bitsandbytes 4-bit NormalFloat with double quantization, computing in bfloat16
  (float16 compute gives empty output for Gemma3).
- ``int8``: bitsandbytes LLM.int8 (its matmuls run in float16 internally). Refused for a
  family whose adapter names an ``int8_problem``: Gemma3 (MedGemma), where 8-bit has given
  gibberish (Google-Health/medgemma#5) and empty output traced to float16 compute
  (bitsandbytes-foundation/bitsandbytes#1572).
- ``bf16`` / ``fp32``: unquantized.
- ``auto``: on a CUDA GPU, bf16 when the weights fit in free memory with headroom, else nf4;
  without a GPU that can hold even nf4, the CPU (fp32 when RAM allows, else bf16), with a
  warning that answers will be slow. int8 is never chosen automatically.

Quantization always leaves the vision encoder, the projector and ``lm_head`` in bf16 (each family
names its modules: :attr:`~models.families.base.FamilyAdapter.unquantized_modules`). transformers
5 matches ``llm_int8_skip_modules`` on full module names, so they are listed with their full
prefixes (a short name like ``"vision_tower"`` is silently ignored).

torch, transformers and bitsandbytes are imported inside the functions that need them, so
importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from models.errors import DeviceUnavailableError, ModelNotFoundError, UnsupportedPrecisionError
from models.families.lookup import adapter_for_model_type, unquantized_modules

__all__ = [
    "UNQUANTIZED_MODULES",
    "LoadedModel",
    "Precision",
    "load_model",
    "quantization_config",
    "resolve_model_folder",
]

logger = logging.getLogger(__name__)

# Full module-name prefixes kept unquantized: every family's (its adapter says which).
UNQUANTIZED_MODULES = unquantized_modules()

_GIB = 1024**3
# Room left beside the weights for activations, the KV cache of a few thousand image tokens
# and the CUDA context.
_HEADROOM_BYTES = 3 * _GIB
# nf4 weights relative to bf16: ~4.5 bits for the decoder, while the vision side stays bf16.
_NF4_FRACTION = 0.4
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


class Precision(Enum):
    """Numeric format of the loaded model's weights."""

    AUTO = "auto"
    NF4 = "nf4"
    INT8 = "int8"
    BF16 = "bf16"
    FP32 = "fp32"

    @classmethod
    def parse(cls, value: Precision | str) -> Precision:
        """``value`` as a Precision; strings are matched case-insensitively."""
        if isinstance(value, Precision):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(member.value for member in cls)
            raise UnsupportedPrecisionError(
                f"Argument 'precision' must be one of {names}, not {value!r}."
            ) from None

    @property
    def is_quantized(self) -> bool:
        return self in (Precision.NF4, Precision.INT8)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to generate, with its processor and how it was loaded."""

    model: Any
    processor: Any
    precision: Precision
    device: str
    load_seconds: float
    folder: Path
    model_type: str

    def __post_init__(self) -> None:
        if self.precision is Precision.AUTO:
            raise ValueError("LoadedModel.precision must be the precision used, not 'auto'.")
        if self.load_seconds < 0:
            raise ValueError(f"LoadedModel.load_seconds must be >= 0, not {self.load_seconds}.")


def load_model(
    source: str | Path,
    precision: Precision | str = Precision.AUTO,
    device: str | None = None,
    *,
    model_id: str | None = None,
    cache_dir: str | Path | None = None,
) -> LoadedModel:
    """Load the model at ``source`` (a local folder or a cached hub id) with its processor.

    ``device`` is ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; None picks the GPU when there is one
    (and, with ``auto``, when the model fits it). ``model_id`` is the name used in messages and
    in the suggested ``radlens models pull`` command (default: ``source``); ``cache_dir`` is the
    Hugging Face hub cache to look in (default: the standard one, ``HF_HUB_CACHE``).
    """
    wanted = Precision.parse(precision)
    folder = resolve_model_folder(source, model_id=model_id, cache_dir=cache_dir)
    _check_family_precision(wanted, folder, model_id or str(source))
    start = time.perf_counter()

    target = _check_device(device)
    chosen, target = _choose_precision(wanted, target, folder, explicit_device=device is not None)

    from models.backends.processors import load_processor

    config = _load_config(folder)
    processor = load_processor(folder, config=config)
    model = _load_weights(folder, chosen, target)
    seconds = time.perf_counter() - start
    logger.info(
        "Loaded %s (%s) as %s on %s in %.1f s.",
        model_id or source,
        config.model_type,
        chosen.value,
        target,
        seconds,
    )
    return LoadedModel(
        model=model,
        processor=processor,
        precision=chosen,
        device=target,
        load_seconds=seconds,
        folder=folder,
        model_type=str(config.model_type),
    )


def resolve_model_folder(
    source: str | Path, *, model_id: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """The local folder holding ``source``: the folder itself, or its Hugging Face cache snapshot.

    Never touches the network. Raises :class:`ModelNotFoundError` when there is no such folder,
    the hub id is not cached, or the folder holds no config or no weights.
    """
    name = model_id or str(source)
    pull = f"Run `radlens models pull {name}` to download it."
    path = Path(source).expanduser()
    if path.is_dir():
        return _check_model_folder(path.resolve(), name, pull)
    if isinstance(source, Path) or _looks_like_path(str(source)):
        raise ModelNotFoundError(
            f"Model {name!r} not found: no folder at {path.resolve()}. {pull}"
        )

    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        snapshot = snapshot_download(str(source), cache_dir=cache_dir, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError):
        where = f"{source} is" if name != str(source) else "it is"
        raise ModelNotFoundError(
            f"Model {name!r} is not downloaded: {where} not in the Hugging Face cache "
            f"({cache_dir or constants.HF_HUB_CACHE}) and is not a local folder. {pull}"
        ) from None
    return _check_model_folder(Path(snapshot), name, pull)


def quantization_config(precision: Precision | str) -> Any:
    """The ``BitsAndBytesConfig`` for ``precision``, or None when it is not quantized."""
    chosen = Precision.parse(precision)
    if not chosen.is_quantized:
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UnsupportedPrecisionError(
            f"Precision {chosen.value!r} needs bitsandbytes, which is not installed: "
            "`pip install bitsandbytes`, or use precision 'bf16' or 'fp32'."
        )
    import torch
    from transformers import BitsAndBytesConfig

    if chosen is Precision.NF4:
        return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
            llm_int8_skip_modules=list(UNQUANTIZED_MODULES),
        )
    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_8bit=True, llm_int8_skip_modules=list(UNQUANTIZED_MODULES)
    )


# --------------------------------------------------------------------------- helpers


def _looks_like_path(text: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything else is meant as a path."""
    return text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1


def _check_model_folder(folder: Path, name: str, pull: str) -> Path:
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(
            f"Model {name!r}: {folder} has no config.json, so it is not a model folder. {pull}"
        )
    if not any(p.name.endswith(_WEIGHT_SUFFIXES) for p in folder.iterdir()):
        raise ModelNotFoundError(
            f"Model {name!r}: {folder} has no weight files (*.safetensors); "
            f"the download may be incomplete. {pull}"
        )
    return folder


def _check_family_precision(precision: Precision, folder: Path, name: str) -> None:
    """Refuse a precision the folder's family is known to break under (8-bit Gemma3)."""
    if precision is not Precision.INT8:
        return
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    model_type = str(config.get("model_type", ""))
    family = adapter_for_model_type(model_type)
    if family is not None and family.int8_problem:
        raise UnsupportedPrecisionError(
            f"Model {name!r}: precision 'int8' is refused for {model_type} "
            f"({family.model_names}) models: {family.int8_problem}. Use 'nf4' (4-bit, "
            "computing in bfloat16) or 'bf16'."
        )


def _check_device(device: str | None) -> str | None:
    """Validate an explicit device; None stays None (chosen later)."""
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise DeviceUnavailableError(
            f"Argument 'device' must be 'cpu', 'cuda' or 'cuda:N', not {device!r}."
        ) from err
    if parsed.type == "cpu":
        return "cpu"
    if parsed.type != "cuda":
        raise DeviceUnavailableError(
            f"Argument 'device' must be 'cpu', 'cuda' or 'cuda:N', not {device!r}."
        )
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = parsed.index or 0
    if index >= count:
        raise DeviceUnavailableError(
            f"Device {device!r} is not available: torch {torch.__version__} sees {count} CUDA "
            "GPU(s). Use device='cpu' or check the NVIDIA driver."
        )
    return f"cuda:{index}"


def _choose_precision(
    wanted: Precision, device: str | None, folder: Path, *, explicit_device: bool
) -> tuple[Precision, str]:
    """The precision and device to load with, resolving ``auto`` and a missing device."""
    import torch

    if device is None:
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if wanted is not Precision.AUTO:
        quantization_config(wanted)  # fail early when bitsandbytes is missing
        return wanted, device

    need = _bf16_weight_bytes(folder)
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        if free >= need + _HEADROOM_BYTES:
            return Precision.BF16, device
        has_bnb = importlib.util.find_spec("bitsandbytes") is not None
        if has_bnb and (free >= need * _NF4_FRACTION + _HEADROOM_BYTES or explicit_device):
            return Precision.NF4, device
        logger.warning(
            "%s has %.1f GiB free, too little for this model (~%.1f GiB in bf16, ~%.1f GiB in "
            "nf4, plus %.0f GiB headroom); running on the CPU instead: expect minutes per answer.",
            device,
            free / _GIB,
            need / _GIB,
            need * _NF4_FRACTION / _GIB,
            _HEADROOM_BYTES / _GIB,
        )
    elif not explicit_device:
        logger.warning("No CUDA GPU found; running on the CPU: expect minutes per answer.")
    return _cpu_precision(need), "cpu"


def _cpu_precision(bf16_bytes: int) -> Precision:
    """fp32 when RAM holds it comfortably (faster on most CPUs), else bf16."""
    available = _available_ram_bytes()
    if available is None or available >= 2 * bf16_bytes + _HEADROOM_BYTES:
        return Precision.FP32
    return Precision.BF16


def _bf16_weight_bytes(folder: Path) -> int:
    """Approximate size of the weights in bf16, from the files on disk and their dtype."""
    files = [p for p in folder.iterdir() if p.name.endswith(_WEIGHT_SUFFIXES)]
    # Repositories that ship both formats hold the same weights twice: count safetensors only.
    if any(p.suffix == ".safetensors" for p in files):
        files = [p for p in files if p.suffix == ".safetensors"]
    size = sum(p.stat().st_size for p in files)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    stored = config.get("dtype") or config.get("torch_dtype") or "bfloat16"
    return size // 2 if stored == "float32" else size


def _available_ram_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where it cannot be read."""
    try:
        lines = Path("/proc/meminfo").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _load_config(folder: Path) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder, local_files_only=True)


def _load_weights(folder: Path, precision: Precision, device: str) -> Any:
    import torch
    from transformers import AutoModelForImageTextToText

    dtype = torch.float32 if precision is Precision.FP32 else torch.bfloat16
    model = AutoModelForImageTextToText.from_pretrained(
        folder,
        dtype=dtype,
        quantization_config=quantization_config(precision),
        device_map={"": device},
        local_files_only=True,
    )
    model.eval()  # type: ignore[no-untyped-call]
    return model
