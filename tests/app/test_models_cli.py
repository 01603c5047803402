"""`radlens models` and `radlens models pull`: the list, the JSON contract, the cache, downloads.

No test touches the network: the hub cache is a folder in tmp_path laid out as huggingface_hub
writes it, and downloads go through a stand-in for ``snapshot_download``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import huggingface_hub
import pytest
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError

from app.cli import main
from models.errors import DownloadUnavailableError, GatedModelError
from models.registry import hub
from models.registry.lookup import get_spec
from tests.files import REPO

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache in tmp_path, offline, with no remote settings."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("URL", "MODEL", "API_KEY", "GROUNDING"):
        monkeypatch.delenv(f"RADLENS_REMOTE_{name}", raising=False)
    return cache


def write_snapshot(cache: Path, repo_id: str, files: tuple[str, ...]) -> Path:
    """Lay out ``files`` as huggingface_hub does: blobs, refs/main, symlinked snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    contents = {
        "config.json": b'{"model_type": "gemma3"}',
        "model.safetensors.index.json": json.dumps(
            {"metadata": {}, "weight_map": {"a.weight": SHARDS[0], "b.weight": SHARDS[1]}}
        ).encode(),
    }
    for index, name in enumerate(files):
        blob = repo / "blobs" / f"{index:040x}"
        blob.write_bytes(contents.get(name, b"weights"))
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def models_json(capsys) -> dict:
    assert main(["models", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_models_json_contract(hf_cache, capsys):
    summary = models_json(capsys)
    assert summary["schema"] == "radlens.models/1"
    assert summary["default"] == "medgemma-1.5-4b"
    assert summary["cache_dir"] == str(hf_cache)
    assert summary["memory"]["kv_tokens"] == 8192
    assert summary["memory"]["bytes_per_param"] == {
        "nf4": 0.516,
        "int8": 1.002,
        "bf16": 2.0,
        "fp32": 4.0,
    }
    models = {m["id"]: m for m in summary["models"]}
    assert list(models) == [
        "medgemma-1.5-4b",
        "medgemma-4b",
        "medgemma-27b",
        "lingshu-7b",
        "lingshu-32b",
        "qwen2.5-vl-3b",
        "qwen2.5-vl-7b",
        "qwen3-vl-2b",
        "qwen3-vl-4b",
        "qwen3-vl-8b",
        "remote",
    ]
    default = models["medgemma-1.5-4b"]
    assert [m["id"] for m in summary["models"] if m["default"]] == ["medgemma-1.5-4b"]
    assert default["source"] == "google/medgemma-1.5-4b-it"
    assert (default["family"], default["grounding"]) == ("gemma3", "gemma_box_2d")
    assert (default["downloaded"], default["path"], default["gated"]) == (False, None, True)
    assert default["params_b"] == 4.3
    assert default["memory_gb"] == {"nf4": 5.13, "int8": 6.69, "bf16": 9.89}
    assert default["card_url"] == "https://huggingface.co/google/medgemma-1.5-4b-it"
    assert models["medgemma-4b"]["system_prompt"] == "You are an expert radiologist."
    assert models["qwen2.5-vl-7b"]["memory_gb"] == {"nf4": 8.37, "int8": 11.54, "bf16": 18.05}
    assert models["lingshu-7b"]["license"] == "MIT"
    assert models["lingshu-7b"]["endpoint"] is None
    remote = models["remote"]
    assert (remote["downloaded"], remote["memory_gb"], remote["params_b"]) == (None, None, None)
    assert remote["endpoint"] == {
        "url": "http://127.0.0.1:8000/v1",
        "model": None,
        "api_key_set": False,
    }
    # Capabilities from the cards: MedGemma 1.5 boxes chest radiographs only (its card and
    # localization notebook); MedGemma 1 and Lingshu give none; a remote model of unknown family
    # none either.
    caps = default["capabilities"]
    assert caps["localization"] == {
        "modalities": ["CR", "DX", "OT"],
        "body_parts": ["CHEST"],
        "stacks": False,
        "scope": "chest-radiograph anatomy (trained and evaluated on Chest ImaGenome)",
        "not_offered": "not trained for box localization",
    }
    assert (caps["volumes"], caps["longitudinal"], caps["report"]) == (
        True,
        ["CR", "DX", "OT"],
        ["*"],
    )
    assert caps["sources"]["localization"].startswith(
        "https://huggingface.co/google/medgemma-1.5-4b-it, Description: anatomical localization"
    )
    assert "boxes: chest radiographs (CR, DX or a plain image) (CHEST), 2D images only: " in (
        "; ".join(caps["summary"])
    )
    for model_id in ("medgemma-4b", "medgemma-27b", "lingshu-7b", "lingshu-32b", "remote"):
        assert models[model_id]["capabilities"]["localization"]["modalities"] == [], model_id
    assert models["medgemma-27b"]["memory_gb"] == {"nf4": 18.98, "int8": 31.41, "bf16": 56.97}
    assert models["lingshu-32b"]["memory_gb"]["bf16"] == 70.04
    # Every entry has the same keys.
    assert len({tuple(m) for m in summary["models"]}) == 1


def test_remote_key_is_never_printed(hf_cache, capsys, monkeypatch):
    monkeypatch.setenv("RADLENS_REMOTE_URL", "https://gpu-box.local/v1")
    monkeypatch.setenv("RADLENS_REMOTE_MODEL", "lingshu-7b")
    monkeypatch.setenv("RADLENS_REMOTE_API_KEY", "sk-do-not-print")
    assert main(["models", "--json"]) == 0
    out = capsys.readouterr().out
    assert "sk-do-not-print" not in out
    remote = json.loads(out)["models"][-1]
    assert remote["endpoint"] == {
        "url": "https://gpu-box.local/v1",
        "model": "lingshu-7b",
        "api_key_set": True,
    }
    assert remote["source"] == "https://gpu-box.local/v1"


def test_downloaded_needs_every_shard(hf_cache, capsys):
    repo_id = "google/medgemma-1.5-4b-it"
    write_snapshot(hf_cache, repo_id, ("config.json", "model.safetensors.index.json", SHARDS[0]))
    spec = get_spec("medgemma-1.5-4b")
    assert not hub.is_downloaded(spec)
    assert models_json(capsys)["models"][0]["downloaded"] is False

    snapshot = write_snapshot(hf_cache, repo_id, (SHARDS[1],))
    assert hub.is_downloaded(spec)
    assert hub.snapshot_folder(spec) == snapshot
    assert hub.cache_location(spec) == hf_cache / "models--google--medgemma-1.5-4b-it"
    first, second = models_json(capsys)["models"][:2]
    assert (first["downloaded"], first["path"]) == (True, str(snapshot))
    assert (second["id"], second["downloaded"]) == ("medgemma-4b", False)


def test_downloaded_without_an_index(hf_cache):
    write_snapshot(hf_cache, "Qwen/Qwen2.5-VL-3B-Instruct", ("config.json",))
    spec = get_spec("qwen2.5-vl-3b")
    assert not hub.is_downloaded(spec)
    write_snapshot(hf_cache, "Qwen/Qwen2.5-VL-3B-Instruct", ("model.safetensors",))
    assert hub.is_downloaded(spec)
    assert not hub.is_downloaded(get_spec("remote"))


def test_table_marks_default_and_download(hf_cache, capsys):
    write_snapshot(
        hf_cache, "lingshu-medical-mllm/Lingshu-7B", ("config.json", "model.safetensors")
    )
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "ID",
        "FAMILY",
        "DOWNLOADED",
        "NF4",
        "INT8",
        "BF16",
        "GATED",
        "BOXES",
        "3D",
        "PRIOR",
    ]
    rows = {line.lstrip("* ").split()[0]: line for line in lines if line}
    assert rows["medgemma-1.5-4b"].split() == [
        "*",
        "medgemma-1.5-4b",
        "gemma3",
        "no",
        "5.1",
        "GB",
        "6.7",
        "GB",
        "9.9",
        "GB",
        "yes",
        "cxr",
        "yes",
        "cxr",
    ]
    assert rows["lingshu-7b"].split()[2] == "yes"
    assert rows["lingshu-7b"].split()[-3:] == ["-", "no", "-"]
    assert rows["qwen2.5-vl-7b"].split()[-3:] == ["2d", "no", "-"]
    assert rows["remote"].split() == ["remote", "remote", "-", "-", "-", "-", "no", "-", "no", "-"]
    assert f"Cache: {hf_cache}." in lines[-1]


# --------------------------------------------------------------------------- pull


def test_pull_offline_is_one_line_and_touches_no_network(hf_cache, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("snapshot_download must not be called offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    assert main(["models", "pull", "medgemma-1.5-4b"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("radlens: error: Cannot download medgemma-1.5-4b ")
    assert "downloads are disabled (HF_HUB_OFFLINE=1)" in err


def test_pull_offline_returns_a_downloaded_model(hf_cache, capsys):
    snapshot = write_snapshot(hf_cache, "Qwen/Qwen2.5-VL-3B-Instruct", ("config.json",))
    write_snapshot(hf_cache, "Qwen/Qwen2.5-VL-3B-Instruct", ("model.safetensors",))
    assert main(["models", "pull", "qwen2.5-vl-3b"]) == 0
    assert capsys.readouterr().out == f"qwen2.5-vl-3b: downloaded to {snapshot}\n"


def test_pull_offline_in_a_fresh_process(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "models", "pull", "lingshu-7b"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.rstrip("\n")]
    assert "Cannot download lingshu-7b (lingshu-medical-mllm/Lingshu-7B)" in done.stderr


def test_pull_unknown_id_lists_the_known_ones(hf_cache, capsys):
    assert main(["models", "pull", "medgemma-2b"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Unknown model 'medgemma-2b': use one of medgemma-1.5-4b, medgemma-4b, " in err
    assert "qwen3-vl-8b, remote" in err


def test_pull_remote_is_refused(hf_cache, capsys):
    assert main(["models", "pull", "remote"]) == 2
    assert "nothing to download" in capsys.readouterr().err


@pytest.fixture
def online(hf_cache, monkeypatch):
    """Downloads allowed; every call to snapshot_download goes to the returned list."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return []


def _response(status: int, repo_id: str) -> httpx2.Response:
    url = f"https://huggingface.co/api/models/{repo_id}/revision/main"
    return httpx2.Response(status, request=httpx2.Request("GET", url))


def test_pull_gated_explains_how_to_get_access(online, capsys, monkeypatch):
    def gated(repo_id, **kwargs):
        online.append(repo_id)
        raise GatedRepoError(
            "401 Client Error. Cannot access gated repo", response=_response(401, repo_id)
        )

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    assert main(["models", "pull", "medgemma-1.5-4b"]) == 2
    assert online == ["google/medgemma-1.5-4b-it"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        "radlens: error: google/medgemma-1.5-4b-it is gated and this machine has no access: "
        "open https://huggingface.co/google/medgemma-1.5-4b-it while logged in and accept the "
        "Health AI Developer Foundations terms of use, create a read token at "
        "https://huggingface.co/settings/tokens, then set HF_TOKEN=<token> (or run "
        "`hf auth login`) and run `radlens models pull medgemma-1.5-4b` again.\n"
    )


def test_pull_gated_error_type(online, monkeypatch):
    def forbidden(repo_id, **kwargs):
        raise GatedRepoError("403 Client Error.", response=_response(403, repo_id))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", forbidden)
    with pytest.raises(GatedModelError, match=r"accept the Health AI") as info:
        hub.pull(get_spec("medgemma-4b"), progress=False)
    assert isinstance(info.value, PermissionError)
    assert isinstance(info.value.__cause__, GatedRepoError)


def test_pull_unreachable_hub(online, monkeypatch):
    def unreachable(repo_id, **kwargs):
        try:
            raise httpx2.ConnectError("[Errno -3] Temporary failure in name resolution")
        except httpx2.ConnectError as err:
            raise LocalEntryNotFoundError("cannot find the snapshot") from err

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(DownloadUnavailableError, match=r"cannot be reached \(ConnectError\)"):
        hub.pull(get_spec("lingshu-7b"), progress=False)


def test_pull_downloads_only_what_a_model_needs(online, capsys, monkeypatch, tmp_path):
    calls = []

    def download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", download)
    assert main(["models", "pull", "Qwen/Qwen2.5-VL-7B-Instruct"]) == 0
    assert capsys.readouterr().out == f"qwen2.5-vl-7b: downloaded to {tmp_path / 'snapshot'}\n"
    ((repo_id, kwargs),) = calls
    assert repo_id == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert kwargs["cache_dir"] == Path(os.environ["HF_HUB_CACHE"])
    assert kwargs["tqdm_class"] is None  # huggingface_hub's own tqdm bars
    patterns = kwargs["allow_patterns"]
    assert {"*.safetensors", "*.json", "*.jinja", "tokenizer.model", "merges.txt"} <= set(patterns)
    assert not any(p.endswith((".bin", ".gguf", ".pth")) for p in patterns)

    assert hub.pull(get_spec("qwen2.5-vl-3b"), progress=False) == tmp_path / "snapshot"
    quiet = calls[-1][1]["tqdm_class"]
    assert quiet(total=3).disable is True


def test_settings_pane_shows_what_the_model_can_do():
    """The Settings pane's model notes list the capabilities the card declares."""
    from app.handlers_settings import model_info
    from app.services import Services

    info = model_info(Services(), "medgemma-1.5-4b")
    assert "Can do (from its card): reports: any modality; questions: any modality; " in info
    assert "3D volumes as slices: documented; boxes: chest radiographs (CR, DX or a plain " in info
    assert "comparison with a prior: chest radiographs (CR, DX or a plain image)" in info
    lingshu = model_info(Services(), "lingshu-32b")
    assert "boxes: none (neither Lingshu's card nor its evaluation (MedEvalKit) covers " in lingshu
