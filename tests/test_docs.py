"""Documentation that cannot go stale.

* Every ```python block of README.md and docs/*.md runs as written (collected automatically, so a
  new page or block is covered the day it is added), each in a fresh namespace in an empty folder.
* Every measured number the docs quote is checked against the results file that the example or
  benchmark wrote together with its settings (seed, threads, versions): :data:`CLAIMS` renders the
  quoted text from the file, and the docs must contain it.
* Quoted tables equal the tables their scripts wrote; the docs and examples point to nothing
  outside the repository.
"""

from __future__ import annotations

import glob
import json
import os
import re
import statistics

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def _read(path: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _flat(text: str) -> str:
    """Whitespace collapsed, so a quote may wrap across lines."""
    return " ".join(text.split())


def fenced_blocks(text: str):
    """(info string, first line number, content) of every fenced block, fences paired in order."""
    lines, block, out = text.split("\n"), None, []
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            if block is None:
                block = (line[3:].strip(), number + 1, [])
            else:
                out.append((block[0], block[1], "\n".join(block[2]) + "\n"))
                block = None
        elif block is not None:
            block[2].append(line)
    assert block is None, "an unclosed ``` fence"
    return out


def _python_blocks():
    for path in DOCS:
        for info, line, code in fenced_blocks(_read(path)):
            if info == "python":
                yield pytest.param(path, line, code, id=f"{path}:{line}")


@pytest.mark.parametrize("path,line,code", list(_python_blocks()))
def test_python_block_runs_as_written(path, line, code, tmp_path, monkeypatch):
    needs = {"sklearn": "scikit-learn", "tonic": "tonic", "h5py": "h5py", "matplotlib": "matplotlib"}
    if "digits_datasets" in code:
        pytest.importorskip("sklearn")
    if "EventFrames" in code and ("denoise_us" in code or "spatial_factor" in code):
        pytest.importorskip("tonic")
    if "shd" in code.lower():
        pytest.importorskip("h5py")
    for module in needs:
        if re.search(rf"^\s*(import|from) {module}\b", code, re.M):
            pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)  # files a block writes land in a scratch folder
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        exec(compile(code, f"{path}:{line}", "exec"), {"__name__": "__docs__"})
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------ numbers
def _json(name: str) -> dict:
    with open(os.path.join(RESULTS, name), encoding="utf-8") as f:
        return json.load(f)


def _by_name(rows, key, value):
    return next(r for r in rows if r[key] == value)


def _train_headline():
    d = _json("train_digits.json")
    seed0 = _by_name(d["runs"], "seed", 0)["test_accuracy"]
    lo, hi = d["summary"]["min"], d["summary"]["max"]
    seeds = [r["seed"] for r in d["runs"]]
    return [f"**{100 * seed0:.1f} %** on the {_by_name(d['runs'], 'seed', 0)['test_samples']} held-out digits",
            f"({100 * lo:.1f}–{100 * hi:.1f} % over seeds {min(seeds)}–{max(seeds)}; one torch thread",
            f"{min(r['wall_time_s'] for r in d['runs']):.0f}–{max(r['wall_time_s'] for r in d['runs']):.0f} s per run",
            ] + ([] if d["settings"]["threads"] == 1 else ["threads must be 1 as the README says"])


def _throughput():
    rows = _json("train_throughput_cpu.json")["rows"]
    ours = _by_name(rows, "model", "neurosim LIF (auto backend)")["samples_per_s"]
    snn = next(r for r in rows if r["model"].startswith("snnTorch"))["samples_per_s"]
    return [f"neurosim {ours:,.0f} samples/s against {snn:,.0f} with snnTorch's `Leaky` ({ours / snn:.1f}x"]


def _stdp():
    two, one = _json("cpu_2core_stdp.json"), _json("cpu_1thread_stdp.json")
    assert two["config"]["threads"] == 2 and one["config"]["threads"] == 1
    fused2 = _by_name(two["results"], "name", "neurosim plasticity.stdp (whole sequence)")
    fused1 = _by_name(one["results"], "name", "neurosim plasticity.stdp (whole sequence)")
    sj1 = _by_name(one["results"], "name", "SpikingJelly STDPLearner (multi-step)")
    return [f"takes {fused2['seconds']:.3f} s on 2 CPU cores, {fused2['speedup_vs_loop']:.1f}x faster than a "
            "per-step PyTorch loop",
            f"on one thread it takes {fused1['seconds']:.3f} s, {sj1['seconds'] / fused1['seconds']:.0f}x faster "
            "than SpikingJelly's `STDPLearner` on the same thread"]


def _hlop():
    methods = _json("hlop_permuted_digits.json")["methods"]
    hlop, plain = methods["HLOP"], methods["plain sequential"]
    return [f"ACC {100 * hlop['acc']:.1f} vs {100 * plain['acc']:.1f} %"]


def _hlop_table():
    methods = _json("hlop_permuted_digits.json")["methods"]
    return [f"| {name} | {100 * m['acc']:.1f} | {100 * m['bwt']:.1f} |" for name, m in
            (("plain sequential", methods["plain sequential"]), ("HLOP", methods["HLOP"]))]


def _ultra_summary():
    summary = _json("ultralif_digits.json")["summary"]
    row = lambda enc, steps, neuron: next(r for r in summary  # noqa: E731
                                          if (r["encoding"], r["steps"], r["neuron"]) == (enc, steps, neuron))
    gaps_final, gaps_best = [], []
    for enc in ("rate", "events"):
        lif = row(enc, 1, "lif")
        for neuron in ("ultralif", "ultradlif"):
            gaps_final.append(row(enc, 1, neuron)["final"][0] - lif["final"][0])
            gaps_best.append(row(enc, 1, neuron)["best"][0] - lif["best"][0])
    return [f"final accuracy by {min(gaps_final):.1f} to {max(gaps_final):.1f} points and by "
            f"{min(gaps_best):.1f} to {max(gaps_best):.1f} in the best epoch"]


def _hippocampus_latents():
    out = []
    for seed in (0, 1):
        d = json.load(open(os.path.join(RESULTS, "hippocampus", f"latents_seed{seed}", "results.json")))
        assert d["settings"]["threads"] == 1 and d["settings"]["seed"] == seed
    return out


# (doc, function returning the texts the doc must contain, rendered from results files)
CLAIMS = [
    ("README.md", _train_headline),
    ("README.md", _throughput),
    ("README.md", _stdp),
    ("README.md", _hlop),
    ("docs/plasticity.md", _hlop_table),
    ("docs/ultralif.md", _ultra_summary),
]


@pytest.mark.parametrize("doc,claim", CLAIMS, ids=[f"{d}:{c.__name__.strip('_')}" for d, c in CLAIMS])
def test_quoted_numbers_come_from_results_files(doc, claim):
    text = _flat(_read(doc))
    for quote in claim():
        assert _flat(quote) in text, f"{doc} should say {quote!r} (from its results file)"


# (doc, the results .txt its block quotes verbatim, the block's first line)
TABLES = [
    ("README.md", "cpu_2core_lif.txt", "device: CPU (x86_64), threads: 2"),
    ("docs/ultralif.md", "ultralif_digits.txt", "input     T neuron"),
]


@pytest.mark.parametrize("doc,results,first", TABLES)
def test_quoted_tables_equal_the_recorded_ones(doc, results, first):
    text = _read(doc)
    blocks = [code for info, _, code in fenced_blocks(text) if info == "" and code.startswith(first)]
    assert len(blocks) == 1, f"{doc}: expected one block starting with {first!r}"
    recorded = [line for line in open(os.path.join(RESULTS, results), encoding="utf-8").read().splitlines()
                if not line.startswith("(")]  # the run's wall time is not quoted
    assert blocks[0].rstrip("\n").splitlines() == recorded


RECORDED_WITH_SETTINGS = ["train_digits.json", "hlop_permuted_digits.json", "ultralif_digits.json"]


@pytest.mark.parametrize("name", RECORDED_WITH_SETTINGS)
def test_results_files_record_their_settings(name):
    settings = _json(name)["settings"]
    for key in ("seed", "threads", "torch", "neurosim", "numpy", "python"):
        assert settings.get(key) is not None, f"{name}: settings lack {key!r}"


def test_examples_set_and_print_threads_and_seed():
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.py"))):
        source = open(path, encoding="utf-8").read()
        assert "announce(" in source and '"--threads"' in source, \
            f"{os.path.basename(path)} must set its thread count (--threads) and print it with the seed (announce)"


def test_docs_point_to_nothing_outside_the_repository():
    texts = {p: _read(p) for p in DOCS}
    texts.update({os.path.relpath(p, ROOT): open(p, encoding="utf-8").read()
                  for p in glob.glob(os.path.join(ROOT, "examples", "*.py"))})
    for path, text in texts.items():
        for phrase in ("closing note", "the issue's", "notes that are not", "see issue"):
            assert phrase not in text.lower(), f"{path} refers to {phrase!r}, which readers cannot see"


def test_cli_flags_in_the_docs_exist():
    """Every `--neuron` choice and flag docs/training.md lists is one the parser accepts."""
    from neurosim.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    options = {s for a in train._actions for s in a.option_strings}
    neuron = next(a for a in train._actions if "--neuron" in a.option_strings)
    text = _read("docs/training.md")
    for flag in set(re.findall(r"`(--[a-z-]+)", text)):
        assert flag in options, f"docs/training.md lists {flag}, which `neurosim train` does not have"
    listed = re.search(r"`--neuron ([a-z|]+)`", text).group(1).split("|")
    assert sorted(listed) == sorted(neuron.choices)
