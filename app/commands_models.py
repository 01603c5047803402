"""``radlens models``: list the models RadLens knows, and download one.

- ``radlens models`` prints a table: id (``*`` marks the default), family, whether it is
  downloaded, estimated GPU memory at nf4 / int8 / bf16, and whether the hub gates it.
- ``radlens models --json`` prints the same as JSON (schema below).
- ``radlens models pull ID`` downloads ID into the Hugging Face cache (progress on stderr) and
  prints ``ID: downloaded to FOLDER``. Gated, offline and unreachable cases exit 2 with one line.

JSON schema ``radlens.models/1``::

    {
      "schema": "radlens.models/1",
      "default": "medgemma-1.5-4b",         # id used when no --model is given
      "cache_dir": "/home/me/.cache/huggingface/hub",
      "memory": {                           # how memory_gb is estimated (GB = 10^9 bytes)
        "kv_tokens": 8192,                  # context the KV cache is sized for
        "runtime_overhead_gb": 1.0,
        "bytes_per_param": {"nf4": 0.516, "int8": 1.002, "bf16": 2.0, "fp32": 4.0}
      },
      "models": [
        {
          "id": "medgemma-1.5-4b",
          "name": "MedGemma 1.5 4B-it",
          "default": true,
          "source": "google/medgemma-1.5-4b-it",   # hub id, local folder, or server URL
          "family": "gemma3",                      # gemma3 | qwen2_5_vl | remote
          "grounding": "gemma_box_2d",             # models.grounding.conventions.Convention value
          "downloaded": false,                     # null for remote
          "path": null,                            # local snapshot folder when downloaded
          "gated": true,
          "license": "Health AI Developer Foundations terms of use",
          "card_url": "https://huggingface.co/google/medgemma-1.5-4b-it",   # null if none
          "params_b": 4.3,                         # null for remote
          "context_length": 131072,                # null when unknown
          "image_tokens": "256 per image (resized to 896x896)",
          "default_precision": "auto",
          "memory_gb": {"nf4": 5.13, "int8": 6.69, "bf16": 9.89},   # null for remote
          "system_prompt": null,                   # the card's, when it uses one
          "capabilities": {                        # from the card (models.registry.capabilities)
            "report": ["*"],                       # DICOM modality codes; "*" = any
            "vqa": ["*"],
            "volumes": true,                       # CT/MR volumes as slices documented
            "localization": {
              "modalities": ["CR", "DX", "OT"],    # [] = no boxes from this model
              "body_parts": ["CHEST"],             # [] = any
              "stacks": false,                     # boxes on slices of a 3D series
              "scope": "chest-radiograph anatomy (...)",
              "not_offered": "..."                 # why boxes are withheld elsewhere
            },
            "longitudinal": ["CR", "DX", "OT"],
            "summary": ["reports: any modality", ...],   # what `radlens models` prints
            "sources": {"localization": "https://huggingface.co/..., <section>", ...}
          },
          "notes": "...",
          "endpoint": null    # remote only: {"url": str, "model": str|null, "api_key_set": bool}
        }
      ]
    }

Memory estimates are rounded to 0.01 GB; see :mod:`models.registry.lookup` for the formula.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from models.backends.loading import Precision
from models.registry.capabilities import CHEST_RADIOGRAPH, PLANAR_2D, Capabilities
from models.registry.lookup import DEFAULT_MODEL_ID, get_spec, list_specs
from models.registry.memory import BYTES_PER_PARAM, KV_TOKENS, RUNTIME_OVERHEAD_GB
from models.registry.remote_entry import remote_settings
from models.registry.spec import ModelSpec

__all__ = ["SCHEMA", "add_parsers", "models_summary"]

SCHEMA = "radlens.models/1"
_TABLE_PRECISIONS = (Precision.NF4, Precision.INT8, Precision.BF16)


def add_parsers(subparsers: Any) -> None:
    """Add ``models [--json]`` and ``models pull ID`` to the CLI's subcommands."""
    p = subparsers.add_parser("models", help="list the models RadLens knows, or download one")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_models)
    actions = p.add_subparsers(dest="models_action", metavar="{pull}")
    pull = actions.add_parser("pull", help="download a model into the Hugging Face cache")
    pull.add_argument("id", help="model id from `radlens models`")
    pull.set_defaults(func=_cmd_pull)


def models_summary() -> dict[str, Any]:
    """The ``radlens.models/1`` document (see the module docstring)."""
    from models.registry.hub import default_cache_dir

    return {
        "schema": SCHEMA,
        "default": DEFAULT_MODEL_ID,
        "cache_dir": str(default_cache_dir()),
        "memory": {
            "kv_tokens": KV_TOKENS,
            "runtime_overhead_gb": RUNTIME_OVERHEAD_GB,
            "bytes_per_param": {p.value: round(b, 3) for p, b in BYTES_PER_PARAM.items()},
        },
        "models": [_entry(spec) for spec in list_specs()],
    }


def _entry(spec: ModelSpec) -> dict[str, Any]:
    from models.registry.hub import snapshot_folder

    folder = snapshot_folder(spec)
    endpoint = None
    if spec.is_remote:
        settings = remote_settings()
        endpoint = {
            "url": settings.url,
            "model": settings.model,
            "api_key_set": settings.api_key is not None,
        }
    return {
        "id": spec.id,
        "name": spec.name,
        "default": spec.id == DEFAULT_MODEL_ID,
        "source": spec.source,
        "family": spec.family.value,
        "grounding": spec.grounding,
        "downloaded": None if spec.is_remote else folder is not None,
        "path": None if folder is None else str(folder),
        "gated": spec.gated,
        "license": spec.license,
        "card_url": spec.card_url or None,
        "params_b": None if spec.params_b is None else round(spec.params_b, 2),
        "context_length": spec.context_length,
        "image_tokens": spec.image_tokens,
        "default_precision": spec.default_precision.value,
        "memory_gb": None
        if spec.is_remote
        else {p.value: round(spec.memory_gb(p), 2) for p in _TABLE_PRECISIONS},
        "system_prompt": spec.system_prompt,
        "capabilities": _capabilities(spec.can),
        "notes": spec.notes,
        "endpoint": endpoint,
    }


def _capabilities(can: Capabilities) -> dict[str, Any]:
    return {
        "report": sorted(can.report),
        "vqa": sorted(can.vqa),
        "volumes": can.volumes,
        "localization": {
            "modalities": sorted(can.localization),
            "body_parts": sorted(can.localization_body_parts),
            "stacks": can.localization_stacks,
            "scope": can.localization_scope,
            "not_offered": can.no_localization,
        },
        "longitudinal": sorted(can.longitudinal),
        "summary": list(can.summary()),
        "sources": {capability.value: text for capability, text in can.sources},
    }


def _short(codes: list[str]) -> str:
    """A table cell for a list of modality codes: cxr, 2d, any, -, or the codes."""
    chosen = frozenset(codes)
    if not chosen:
        return "-"
    if "*" in chosen:
        return "any"
    if chosen == CHEST_RADIOGRAPH:
        return "cxr"
    if chosen == PLANAR_2D:
        return "2d"
    return ",".join(codes)


def _cmd_models(args: argparse.Namespace) -> int:
    summary = models_summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_table(summary))
    return 0


def _table(summary: dict[str, Any]) -> str:
    header = ["", "ID", "FAMILY", "DOWNLOADED", "NF4", "INT8", "BF16", "GATED", "BOXES", "3D"]
    header.append("PRIOR")
    rows = [header]
    for model in summary["models"]:
        memory = model["memory_gb"] or {}
        downloaded = model["downloaded"]
        rows.append(
            [
                "*" if model["default"] else "",
                model["id"],
                model["family"],
                "-" if downloaded is None else ("yes" if downloaded else "no"),
                *(f"{memory[p.value]:.1f} GB" if memory else "-" for p in _TABLE_PRECISIONS),
                "yes" if model["gated"] else "no",
                _short(model["capabilities"]["localization"]["modalities"]),
                "yes" if model["capabilities"]["volumes"] else "no",
                _short(model["capabilities"]["longitudinal"]),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    memory = summary["memory"]
    lines += [
        "",
        f"* default. Memory: estimated GPU need with a {memory['kv_tokens']}-token context.",
        "BOXES: where the model gives boxes (cxr: chest radiographs; 2d: 2D images, not CT/MR "
        "slices).",
        "3D: CT/MR volumes documented; PRIOR: comparison with a prior documented (each from "
        "its card: sources in --json).",
        f"Cache: {summary['cache_dir']}. Download with `radlens models pull ID`.",
    ]
    return "\n".join(line.rstrip() for line in lines)


def _cmd_pull(args: argparse.Namespace) -> int:
    from models.registry.hub import pull

    spec = get_spec(args.id)
    folder = pull(spec, progress=True)
    print(f"{spec.id}: downloaded to {folder}")
    return 0
