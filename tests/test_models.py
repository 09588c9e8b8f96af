"""A person's own model by name (--model): checkpoint folders written here with save_pretrained
(seeded random weights, real transformers), a hub cache laid out as huggingface_hub lays it out,
timm and torchvision names; the venv matrix on two torch releases, reuse, and each bad input."""

import hashlib
import json
import os
import shutil

import pytest

from helpers import MATRIX, open_page, read_results, run_module, spec, write_checkpoints


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return write_checkpoints(tmp_path_factory.mktemp("checkpoints"))


def statuses(path):
    return {(r["case"], r["exporter"]): r["status"] for r in read_results(path)}


def here(tmp_path, *args, env_extra=None):
    out = tmp_path / f"here-{len(list(tmp_path.glob('here-*')))}.jsonl"
    done = run_module("matrix", "run", "--here", "--out", out, *args, timeout=900, env_extra=env_extra)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, out


def test_checkpoints_by_folder_answer_as_the_model_families_cases(checkpoints, tmp_path):
    done, out = here(tmp_path, *[a for p in checkpoints.values() for a in ("--model", p)],
                     "--cases", "models/bert,models/gpt2,models/vit,own/*")
    assert "gpt2-tiny: task text-generation (from its architecture GPT2LMHeadModel" in done.stdout
    found = statuses(out)
    for family, own in (("models/bert", "own/bert-tiny"), ("models/gpt2", "own/gpt2-tiny"),
                        ("models/vit", "own/vit-tiny")):
        for exporter in ("torchscript", "dynamo"):
            assert found[(own, exporter)] == found[(family, exporter)], (own, exporter, found)
    results = {(r["case"], r["exporter"]): r for r in read_results(out)}
    bert = results[("own/bert-tiny", "dynamo")]
    weights = hashlib.sha256()  # the hash covers the weights and the config, by content
    for name in ("config.json", "model.safetensors"):
        weights.update(name.encode() + b"\0" + (checkpoints["bert-tiny"] / name).read_bytes())
    assert bert["source"] == {"model": "bert-tiny", "weights": weights.hexdigest()[:16], "task": "feature-extraction"}
    assert bert["status"] == "pass" and [c["dim"] for c in bert["metrics"]["dynamic_checked"]] == ["batch", "sequence"]
    assert "input_names=['input_ids', 'attention_mask', 'token_type_ids']" in bert["export_call"]
    assert str(tmp_path) not in json.dumps(bert)  # results are published: the folder by its name only


def test_a_decoding_step_with_its_kv_cache_exports_from_a_gpt2_checkpoint(checkpoints, tmp_path):
    _, out = here(tmp_path, "--model", checkpoints["gpt2-tiny"], "--task", "text-generation-with-past")
    for result in read_results(out):
        assert result["case"] == "own/gpt2-tiny-text-generation-with-past"
        assert result["status"] == "pass", result
        assert [c["dim"] for c in result["metrics"]["dynamic_checked"]] == ["batch", "sequence", "past_sequence"]
    dynamo = next(r for r in read_results(out) if r["exporter"] == "dynamo")
    assert "'past_key_0', 'past_value_0', 'past_key_1', 'past_value_1'" in dynamo["export_call"]


def test_timm_and_torchvision_names_with_random_weights(tmp_path):
    _, out = here(tmp_path, "--model", "timm:resnet18", "--model", "torchvision:mobilenet_v3_small",
                  "--random-weights", "--exporter", "torchscript")
    found = {r["case"]: r for r in read_results(out)}
    assert set(found) == {"own/timm-resnet18", "own/torchvision-mobilenet_v3_small"}
    for result in found.values():
        assert result["status"] == "pass" and result["source"]["weights"] == "random", result
        assert result["metrics"]["max_abs_err"] > 0  # real BatchNorm statistics: the outputs are not ~0


def hub_cache(home, repo_id, folder):
    """A model in huggingface_hub's cache layout: blobs by content, a snapshot of links, refs/main."""
    repo = home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for path in folder.iterdir():
        blob = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, repo / "blobs" / blob)
        os.symlink(f"../../blobs/{blob}", snapshot / path.name)
    return commit


def test_a_hub_id_resolves_from_the_cache_offline(checkpoints, tmp_path):
    home = tmp_path / "hf"
    commit = hub_cache(home, "someone/bert-tiny", checkpoints["bert-tiny"])
    offline = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    _, out = here(tmp_path, "--model", "someone/bert-tiny", "--exporter", "torchscript", env_extra=offline)
    (result,) = read_results(out)
    assert (result["case"], result["status"]) == ("own/someone--bert-tiny", "pass")
    assert result["source"]["model"] == "someone/bert-tiny" and result["source"]["revision"] == commit
    missing = run_module("matrix", "run", "--here", "--model", "someone/not-cached", env_extra=offline)
    assert missing.returncode == 2 and missing.stderr.startswith(
        "matrix run: error: --model someone/not-cached: no such folder, and as a hub id not in the Hugging Face "
        "cache (HF_HUB_OFFLINE is set)") and len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.network  # axe-core from the npm registry, once (then cached)
def test_the_matrix_runs_checkpoints_on_two_torch_releases_and_reruns_only_a_changed_one(checkpoints, tmp_path,
                                                                                          browser):
    """venv cells, torch 2.11 and 2.15: a second run reuses every result; one weight changed reruns
    that model only; the report lists the models under "Your own models"."""
    models = tmp_path / "models"
    shutil.copytree(checkpoints["bert-tiny"].parent, models)
    (tmp_path / "spec.toml").write_text(spec(torch=["2.11.0", MATRIX["torch"]]))
    args = ["--spec", tmp_path / "spec.toml", "--runner", "venv", "--results", tmp_path / "results",
            "--exporter", "torchscript", *[a for p in sorted(models.iterdir()) for a in ("--model", p)]]

    def run():
        done = run_module("matrix", "run", *args, timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return [r for f in (tmp_path / "results" / "latest").glob("*.jsonl") for r in read_results(f)]

    first = run()
    assert {r["versions"]["torch"].split("+")[0] for r in first} == {"2.11.0", MATRIX["torch"]}
    assert {r["case"] for r in first} == {"own/bert-tiny", "own/gpt2-tiny", "own/vit-tiny"}
    assert all(r["status"] == "pass" for r in first), [(r["case"], r["status"], r["error"]) for r in first]
    assert all(r.get("reused_from") for r in run())

    from safetensors.torch import load_file, save_file

    weights = models / "vit-tiny" / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1.0
    save_file(tensors, weights, metadata={"format": "pt"})
    third = run()
    rerun = {r["case"] for r in third if not r.get("reused_from")}
    assert rerun == {"own/vit-tiny"} and len(third) == len(first)

    from matrix.bench.axe import violations

    site = tmp_path / "site"
    assert run_module("matrix", "report", "--results", tmp_path / "results", "--out", site).returncode == 0
    assert open_page(browser, site / "index.html") == []
    section = browser.find_element("id", "own-models")
    assert [h.text for h in section.find_elements("tag name", "h3")] == ["own/bert-tiny", "own/gpt2-tiny",
                                                                          "own/vit-tiny"]
    assert "vit-tiny (feature-extraction); weights " in section.text and "4 of 4 results pass" in section.text
    browser.execute_script("document.querySelectorAll('#own-models details').forEach(d => d.open = true)")
    assert 'transformers.AutoModelForCausalLM.from_pretrained("gpt2-tiny")' in section.text
    assert violations(browser) == []


def test_bad_models_are_one_line_and_leave_nothing(checkpoints, tmp_path, capsys):
    """In this process (the command's own main, as `python -m matrix` calls it): each is said
    before anything imports torch or writes."""
    from matrix.cli import main

    no_config = tmp_path / "no-config"
    no_config.mkdir()
    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                                                  "hidden_size": 16384, "num_hidden_layers": 120,
                                                  "intermediate_size": 53248, "vocab_size": 128000}))
    (tmp_path / "spec.toml").write_text(spec() + '\n[[models]]\nmodel = "bert-tiny"\nsize = 3\n')
    results = tmp_path / "results"
    for args, said in (
            (["--model", no_config], f"--model {no_config}: not a checkpoint folder: it has no config.json"),
            (["--model", checkpoints["vit-tiny"], "--task", "text-generation"],
             f"--model {checkpoints['vit-tiny']}: --task text-generation: transformers has no such head for a vit"),
            (["--model", huge], f"--model {huge}: too large for this machine: about 340.3 billion parameters"),
            (["--model", "timm:resnet18"], "--model timm:resnet18: timm's pretrained weights are not fetched"),
            (["--model", "not a model"], "--model not a model: no such folder, and not a hub id"),
            (["--spec", tmp_path / "spec.toml"], f"{tmp_path / 'spec.toml'}: [[models]] #1: unknown key 'size'")):
        modes = (["--here", "--out", results / "here.jsonl"], ["--runner", "venv", "--results", results])
        for mode in modes[1:] if "--spec" in args else modes:
            code = main(["run", *map(str, mode), *map(str, args)])
            stderr = capsys.readouterr().err
            assert code == 2, (args, stderr)
            (error,) = [line for line in stderr.splitlines() if not line.startswith("note: ")]
            assert error.startswith(f"matrix run: error: {said}") and "Traceback" not in stderr, stderr
            assert not results.exists()


def test_the_task_follows_from_each_architecture_and_a_missing_head_is_refused(tmp_path):
    """Every task's usual architecture, from its config alone (matrix/models.py reads config.json;
    transformers' own auto mappings say which heads a model type has)."""
    from matrix.errors import UserError
    from matrix.models import resolve

    for architecture, model_type, task in (
            ("BertForMaskedLM", "bert", "fill-mask"), ("BertForSequenceClassification", "bert", "text-classification"),
            ("BertForTokenClassification", "bert", "token-classification"), ("BertModel", "bert", "feature-extraction"),
            ("GPT2LMHeadModel", "gpt2", "text-generation"), ("LlamaForCausalLM", "llama", "text-generation"),
            ("T5ForConditionalGeneration", "t5", "text2text-generation"),
            ("WhisperForConditionalGeneration", "whisper", "automatic-speech-recognition"),
            ("Wav2Vec2ForCTC", "wav2vec2", "automatic-speech-recognition"),
            ("ViTForImageClassification", "vit", "image-classification")):
        folder = tmp_path / architecture
        folder.mkdir()
        config = {"architectures": [architecture], "model_type": model_type, "hidden_size": 32,
                  "num_hidden_layers": 2, "vocab_size": 99, **({"num_mel_bins": 16} if model_type == "whisper" else {})}
        (folder / "config.json").write_text(json.dumps(config))
        entry, said = resolve(str(folder))
        assert entry["task"] == task and said == [f"{folder}: task {task} (from its architecture {architecture}; "
                                                   "--task to choose)"], (architecture, entry, said)
        assert entry["case"] == f"own/{architecture}"
    with pytest.raises(UserError, match="--task image-classification: transformers has no such head for a gpt2"):
        resolve(str(tmp_path / "GPT2LMHeadModel"), task="image-classification")
    entry, said = resolve(str(tmp_path / "GPT2LMHeadModel"), task="text-generation-with-past")
    assert entry["case"] == "own/GPT2LMHeadModel-text-generation-with-past" and said == []
