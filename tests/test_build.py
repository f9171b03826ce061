"""The build: what neurosim.build_info() reports, the CPU kernels' instruction-set levels (all of
them agree with the reference, and no narrower level can reach wider instructions), and the
install-time errors for impossible requests."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

import neurosim
from neurosim import _build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFO = neurosim.build_info()
needs_native = pytest.mark.skipif(not INFO["native"], reason="native extension not built")


def test_build_info_keys_and_types():
    for key in ("native", "cuda_kernels", "torch", "cuda", "arch_list", "cpu_isa", "cpu_isas", "cxx_standard"):
        assert key in INFO
    assert isinstance(INFO["native"], bool) and isinstance(INFO["cuda_kernels"], bool)
    assert INFO["torch_runtime"] == torch.__version__
    if INFO["cuda_kernels"]:
        assert INFO["cuda"] and INFO["arch_list"]
    else:
        assert INFO["cuda"] is None


@needs_native
def test_built_against_running_torch_with_its_standard():
    assert INFO["torch"] == torch.__version__.split("+")[0]
    torch_include = os.path.join(os.path.dirname(torch.__file__), "include")
    assert INFO["cxx_standard"] == _build.cxx_standard([torch_include])


def test_cxx_standard_read_from_aten_header(tmp_path):
    for std in ("17", "20", "23"):
        header = tmp_path / std / "ATen" / "ATen.h"
        header.parent.mkdir(parents=True)
        header.write_text(f"#if !defined(X)\n#error C++{std} or later compatible compiler is required to use ATen.\n#endif\n")
        assert _build.cxx_standard([str(tmp_path / "missing"), str(tmp_path / std)]) == f"c++{std}"
    assert _build.cxx_standard([str(tmp_path / "missing")]) == "c++17"


def test_find_cuda_home_behind_a_wrapper(tmp_path):
    toolkit = tmp_path / "cuda-99.0"
    (toolkit / "bin").mkdir(parents=True)
    (toolkit / "include").mkdir()
    (toolkit / "include" / "cuda_runtime.h").write_text("")
    real = toolkit / "bin" / "nvcc"
    real.write_text("#!/bin/sh\necho '#$ _HERE_=" + str(toolkit / "bin") + "'\n")
    real.chmod(0o755)
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    wrapper = wrappers / "nvcc"
    wrapper.write_text(f"#!/bin/sh\nexec {real} \"$@\"\n")
    wrapper.chmod(0o755)
    env = {"PATH": str(wrappers)}
    assert _build.find_cuda_home(env) == os.path.realpath(toolkit)
    assert _build.find_cuda_home({"CUDA_HOME": str(toolkit), "PATH": ""}) == os.path.realpath(toolkit)


def test_env_switch_refuses_nonsense():
    assert _build.env_switch("X", {"X": "1"}) is True
    assert _build.env_switch("X", {"X": "off"}) is False
    assert _build.env_switch("X", {}) is None
    with pytest.raises(_build.BuildConfigError, match="X='banana'"):
        _build.env_switch("X", {"X": "banana"})


def _setup_py(env_extra, tmp_path):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, os.path.join(ROOT, "setup.py"), "-q", "build_ext", "--build-lib",
                           str(tmp_path / "lib"), "--build-temp", str(tmp_path / "tmp")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.version.cuda is not None, reason="needs a CPU-only torch")
def test_forced_cuda_on_cpu_torch_fails_naming_the_reason(tmp_path):
    result = _setup_py({"NEUROSIM_CUDA": "1"}, tmp_path)
    assert result.returncode != 0
    assert "NEUROSIM_CUDA=1 but" in result.stderr and "CPU-only build" in result.stderr


def test_bad_switch_value_fails_naming_the_variable(tmp_path):
    result = _setup_py({"NEUROSIM_CUDA": "maybe"}, tmp_path)
    assert result.returncode != 0 and "NEUROSIM_CUDA='maybe'" in result.stderr


# ---- CPU instruction-set levels -------------------------------------------------------------

LEVELS = [lvl for lvl in ("baseline", "avx2", "avx512")
          if INFO["native"] and lvl in (INFO["cpu_isas"] or [])
          and ["baseline", "avx2", "avx512"].index(lvl) <= ["baseline", "avx2", "avx512"].index(INFO["cpu_isa_supported"])]
multi_isa = pytest.mark.skipif(len(LEVELS) < 2, reason="CPU kernels built for one ISA level only")


@pytest.fixture
def restore_isa():
    yield
    if INFO["native"]:
        neurosim.core.set_cpu_isa(INFO["cpu_isa"])


def _run_ops(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(70, 3, 45, generator=gen) * 0.7).requires_grad_(True)
    outs = {}
    for name, fn in {
        "lif": lambda: neurosim.functional.lif(x, beta=0.85, threshold=0.9, backend="cpp", record_membrane=True),
        "ultralif": lambda: neurosim.functional.ultralif(x, tau=0.9, eps=0.4, theta=0.3, backend="cpp"),
        "ultradlif": lambda: neurosim.functional.ultradlif(x, tau=0.9, eps=0.4, theta=0.3, backend="cpp"),
    }.items():
        x.grad = None
        result = fn()
        weights = torch.linspace(-1, 1, x.numel()).view_as(x)
        (result.spikes * weights).sum().backward()
        outs[name] = (result.spikes.detach(), result.state.detach(), x.grad.clone())
    return outs


@multi_isa
def test_default_level_is_the_widest_supported():
    assert INFO["cpu_isa"] == LEVELS[-1]


@multi_isa
def test_every_level_agrees(restore_isa):
    results = {}
    for level in LEVELS:
        neurosim.core.set_cpu_isa(level)
        assert neurosim.build_info()["cpu_isa"] == level
        results[level] = _run_ops()
    widest = results[LEVELS[-1]]
    for level in LEVELS[:-1]:
        # LIF is plain IEEE arithmetic (no contraction): identical on every level
        for a, b in zip(results[level]["lif"], widest["lif"]):
            assert torch.equal(a, b), level
        # the Ultra family's exp/log polynomials use FMA where the level has it: rounding differs
        for name in ("ultralif", "ultradlif"):
            for a, b in zip(results[level][name], widest[name]):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@multi_isa
def test_env_variable_selects_level():
    code = "import neurosim; print(neurosim.build_info()['cpu_isa'])"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, NEUROSIM_CPU_ISA="baseline"),
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "baseline", out.stderr[-2000:]


@needs_native
def test_unknown_level_is_refused(restore_isa):
    with pytest.raises(ValueError, match="cpu_isa: sse9"):
        neurosim.core.set_cpu_isa("sse9")


WIDE = {"baseline": re.compile(r"%[yz]mm|%k[0-7]\b"), "avx2": re.compile(r"%zmm|%k[0-7]\b")}


@pytest.fixture(scope="module")
def disassembly():
    """objdump -d of the built library (mangled names), once for this module's tests."""
    if shutil.which("objdump") is None:
        pytest.skip("objdump not installed")
    from neurosim import _C

    return subprocess.run(["objdump", "-d", "--no-show-raw-insn", _C.__file__], capture_output=True,
                          text=True, timeout=600).stdout


def _function_bodies(dump, *name_parts):
    """{mangled name: body} of the functions whose names contain every part."""
    bodies, current = {}, None
    for line in dump.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            name = head.group(1)  # name@plt: the PLT entry that jumps to the function, not its body
            current = name if all(p in name for p in name_parts) and not name.endswith("@plt") else None
            if current:
                bodies[current] = ""
        elif current and line.startswith(" "):
            bodies[current] += line + "\n"
    return bodies


@multi_isa
@pytest.mark.skipif("avx512" not in LEVELS, reason="no AVX-512 copy on this CPU")
def test_avx512_scan_backward_replay_is_vectorised(disassembly):
    """The backward's chunk replay of UltraLIF (the soft max-plus exp, 2^n from a float->int
    conversion) must run 16 lanes per instruction in the AVX-512 copy. Python's CFLAGS carry
    -fwrapv, which left this loop scalar (3x slower) until the build added -fno-wrapv."""
    bodies = _function_bodies(disassembly, "neurosim_isa_avx512", "backward_block", "UltraLifModelIfE")
    assert bodies, "the AVX-512 copy of the UltraLIF backward block was not found"
    for name, body in bodies.items():
        assert re.search(r"vcvttps2dq\s+%zmm", body), f"{name}: the replay's exp is not vectorised (no packed conversion)"


@multi_isa
def test_narrow_levels_never_reach_wider_instructions(disassembly):
    """Walk the call graph of the built library from every function of the baseline (and AVX2)
    copy: no function it can reach directly may use AVX (AVX-512) registers. This is what would
    make a build crash with SIGILL on an older CPU (an inline function of a torch or std header
    compiled for AVX-512 standing in for the baseline's copy)."""
    dump = disassembly
    functions, calls, wide_body, current = {}, {}, {}, None
    for line in dump.splitlines():
        head = re.match(r"^([0-9a-f]+) <(.+)>:$", line)
        if head:
            current = int(head.group(1), 16)
            functions[current] = head.group(2)
            calls[current], wide_body[current] = set(), ""
            continue
        if current is None or not line.startswith(" "):
            continue
        wide_body[current] += line + "\n"
        call = re.search(r"\b(?:call|jmp)\s+([0-9a-f]+) <([^>+]+)", line)
        if call:
            calls[current].add(int(call.group(1), 16))
    for level, wide in WIDE.items():
        if level not in LEVELS:
            continue
        roots = [a for a, n in functions.items() if f"neurosim_isa_{level}" in n or n.endswith(f"_{level}")
                 and n.startswith("neurosim_cpu_")]
        assert roots, f"no functions of the {level} copy found"
        seen, stack = set(), list(roots)
        while stack:
            addr = stack.pop()
            if addr in seen or addr not in functions:
                continue
            seen.add(addr)
            assert not wide.search(wide_body[addr]), (
                f"{functions[addr]} (reachable from the {level} kernels) uses wider instructions")
            if "@plt" not in functions[addr]:
                stack.extend(calls[addr])
