"""Build script for neurosim and its native extension ``neurosim._C``.

The C++ CPU kernels are built whenever a C++ compiler is available, with the C++ standard the
installed torch requires (C++17 up to torch 2.13, C++20 from 2.14). On Linux x86-64 they are
compiled once per instruction-set level (x86-64, AVX2, AVX-512) and the widest the CPU runs is
chosen at run time, so one build works on every x86-64 machine. The CUDA kernels are added when
torch has CUDA and a CUDA toolkit is found. Environment variables:

* ``NEUROSIM_CUDA=1|0``  force the CUDA kernels on or off (default: auto). With ``1`` any failure
  (no CUDA torch, no toolkit, a compiler error) fails the install with the reason.
* ``NEUROSIM_NO_EXT=1``  skip the native extension (pure-PyTorch backend only).
* ``NEUROSIM_MARCH=...`` build the CPU kernels once with ``-march=...`` instead (``native``: this
  machine only; empty: the compiler's default).
* ``NEUROSIM_CPU_FLOAT32_ONLY=1`` with ``NEUROSIM_MARCH``: CPU kernels for float32 storage only
  (other dtypes raise); a faster build for build checks (.ci/cuda_build_check.sh).
* ``TORCH_CUDA_ARCH_LIST`` the GPU architectures (default: the visible GPUs, or "8.0;9.0+PTX"
  when none is visible).

In the default auto mode a failed native build leaves a working package: it falls back to its
``torch`` backend, and ``import neurosim`` warns with the reason and the path of the compiler log.
``neurosim.build_info()`` (or ``neurosim info``) tells what was built.
"""

import contextlib
import fnmatch
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))
KERNELS = "cuda_kernels"
BUILD_INFO = "_build_info.json"
BUILD_LOG = "_build_failure.log"

_spec = importlib.util.spec_from_file_location("neurosim_build", os.path.join(ROOT, "neurosim", "_build.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def _extensions():
    if build.env_switch("NEUROSIM_NO_EXT"):
        return [], {}
    want_cuda = build.env_switch("NEUROSIM_CUDA")  # a bad value fails here, naming the variable
    cuda_home = build.find_cuda_home() if want_cuda is not False else None
    if cuda_home and not os.environ.get("CUDA_HOME"):
        os.environ["CUDA_HOME"] = cuda_home  # torch reads it once, on import of cpp_extension
    try:
        import torch
        from torch.utils import cpp_extension
    except Exception as exc:  # torch missing at build time: pure-Python install
        if want_cuda:
            raise build.BuildConfigError(f"NEUROSIM_CUDA=1 but torch is not importable ({exc})") from exc
        print(f"neurosim: torch not importable at build time ({exc}); skipping native kernels")
        return [], {}

    missing = []
    if torch.version.cuda is None:
        missing.append(f"torch {torch.__version__} is a CPU-only build (install a CUDA build of torch)")
    if cuda_home is None:
        missing.append("no CUDA toolkit found (nvcc not on the PATH, CUDA_HOME unset)")
    if want_cuda and missing:
        raise build.BuildConfigError("NEUROSIM_CUDA=1 but " + "; ".join(missing))
    with_cuda = want_cuda is not False and not missing

    torch_dir = os.path.dirname(torch.__file__)
    torch_include = [os.path.join(torch_dir, "include"),
                     os.path.join(torch_dir, "include", "torch", "csrc", "api", "include")]
    std = build.cxx_standard(torch_include)
    levels = build.cpu_isa_levels()
    multi_isa = "single" not in levels
    cxx = build.CXX_FLAGS + [f"-std={std}"] + ([] if multi_isa else levels["single"])
    # the longest compiles first (the scan's template instantiations), so that on a 2-core build
    # they do not start last and leave one core idle at the end
    def longest_first(paths):
        return sorted(paths, key=lambda p: (not os.path.basename(p).startswith("scan"), p))

    cpu_sources = longest_first(glob.glob(os.path.join(KERNELS, "cpu", "*.cpp")))
    sources = longest_first(glob.glob(os.path.join(KERNELS, "bindings", "*.cpp")))
    if not multi_isa:
        sources += cpu_sources
    include_dirs = [os.path.join(ROOT, KERNELS, "include")]

    info = {
        "torch": torch.__version__.split("+")[0],
        "torch_build": torch.__version__,
        "cxx_standard": std,
        "cpu_isas": list(levels),
        "cuda": None,
        "arch_list": None,
        "cuda_home": None,
        "cuda_kernels_requested": want_cuda,
        "cuda_skipped_because": None if with_cuda else ("NEUROSIM_CUDA=0" if want_cuda is False else "; ".join(missing)),
    }
    macros = [("NEUROSIM_CPU_MULTI_ISA", "1" if multi_isa else "0")]
    # NEUROSIM_CPU_FLOAT32_ONLY=1 (a single-ISA build only): the CPU kernels hold float32 alone,
    # as the wider copies of a multi-ISA build do; other dtypes raise. For build checks that do
    # not need them (.ci/cuda_build_check.sh): the 16-bit and float64 copies are most of the time.
    float32_only = bool(build.env_switch("NEUROSIM_CPU_FLOAT32_ONLY"))
    if float32_only:
        if multi_isa:
            raise build.BuildConfigError("NEUROSIM_CPU_FLOAT32_ONLY=1 needs a single-ISA build (set NEUROSIM_MARCH)")
        macros.append(("NEUROSIM_CPU_FLOAT32_ONLY", "1"))
    info["cpu_float32_only"] = float32_only
    kwargs = dict(include_dirs=include_dirs, extra_link_args=["-fopenmp"])
    if with_cuda:
        if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
            # torch guesses the architectures from the visible GPUs and fails without one
            os.environ["TORCH_CUDA_ARCH_LIST"] = build.DEFAULT_ARCH_LIST
        info.update(cuda=build.nvcc_version(cuda_home) or torch.version.cuda, cuda_home=cuda_home,
                    arch_list=os.environ.get("TORCH_CUDA_ARCH_LIST") or "visible GPUs")
        include_dirs += build.nvidia_wheel_include_dirs(torch_dir)
        sources = longest_first(glob.glob(os.path.join(KERNELS, "cuda", "*.cu"))) + sources
        macros.append(("NEUROSIM_WITH_CUDA", "1"))
        nvcc = build.NVCC_FLAGS + [f"-std={std}"]
        compile_args = {"cxx": cxx, "nvcc": nvcc}
        factory = cpp_extension.CUDAExtension
    else:
        compile_args = {"cxx": cxx}
        factory = cpp_extension.CppExtension
    for key, value in (("TORCH", info["torch"]), ("CUDA", info["cuda"] or ""),
                       ("ARCH_LIST", info["arch_list"] or ""), ("CPU_ISAS", ",".join(levels))):
        macros.append((f"NEUROSIM_BUILD_{key}", json.dumps(value)))
    ext = factory("neurosim._C", sources, define_macros=macros, extra_compile_args=compile_args, **kwargs)
    ext.neurosim_info = info
    ext.neurosim_strict = bool(want_cuda)
    ext.optional = not want_cuda  # setuptools then installs the package without it
    ext.neurosim_cpu = dict(sources=cpu_sources if multi_isa else [], levels=levels, cxx=cxx,
                            include_dirs=include_dirs + torch_include)
    return [ext], {"build_ext": _neurosim_build_ext(cpp_extension.BuildExtension)}


@contextlib.contextmanager
def _output_to(path):
    """Sends this process's and its children's stdout/stderr to ``path`` (the compiler output is
    then in one file), and replays it to stderr afterwards so ``pip -v`` still shows it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
    with open(path, "rb") as log:
        sys.stderr.buffer.write(log.read())
        sys.stderr.flush()


def _neurosim_build_ext(torch_build_ext):
    class NeurosimBuildExt(torch_build_ext):
        """torch's BuildExtension, plus: the CPU kernels once per ISA level, a record of the build
        (``_build_info.json`` beside the extension), and the failure policy (strict with
        NEUROSIM_CUDA=1, else fall back to the torch backend with a log to point at)."""

        def build_extension(self, ext):
            # The record goes beside the built extension: it travels into wheels, and
            # copy_extensions_to_source brings it into the source package for in-place builds.
            package_dirs = [os.path.dirname(self.get_ext_fullpath(ext.name))]
            info = dict(getattr(ext, "neurosim_info", {}))
            for folder in package_dirs:
                os.makedirs(folder, exist_ok=True)
                for stale in (BUILD_INFO, BUILD_LOG):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(os.path.join(folder, stale))
            fd, log_path = tempfile.mkstemp(prefix="neurosim-build-", suffix=".log")
            os.close(fd)
            try:
                with _output_to(log_path):
                    if ext.neurosim_cpu["sources"]:
                        ext.extra_objects = list(ext.extra_objects or []) + self._cpu_isa_objects(ext)
                    super().build_extension(ext)
                info["native"] = True
            except Exception as exc:  # noqa: BLE001 - any compiler or linker failure
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    log = f.read()
                errors = [line for line in log.splitlines() if "error" in line.lower()]
                summary = errors[0].strip() if errors else str(exc)
                if getattr(ext, "neurosim_strict", False):
                    raise RuntimeError(
                        f"neurosim: building the native extension failed (NEUROSIM_CUDA=1): {summary}\n"
                        + "\n".join(log.splitlines()[-60:])) from exc
                for folder in package_dirs:
                    kept_log = os.path.join(folder, BUILD_LOG)
                    with open(kept_log, "w", encoding="utf-8") as f:
                        f.write(log)
                info.update(native=False, failure=summary)
                print(f"neurosim: building {ext.name} failed ({summary}); the torch backend will be used. "
                      f"Compiler log: {kept_log}", file=sys.stderr)
            finally:
                os.remove(log_path)
            for folder in package_dirs:
                if not info.get("native"):
                    info["failure_log"] = os.path.abspath(os.path.join(folder, BUILD_LOG))
                with open(os.path.join(folder, BUILD_INFO), "w", encoding="utf-8") as f:
                    json.dump(info, f, indent=1)

        def copy_extensions_to_source(self):
            super().copy_extensions_to_source()
            build_py = self.get_finalized_command("build_py")
            for ext in self.extensions:
                inplace_file, regular_file = self._get_inplace_equivalent(build_py, ext)
                for name in (BUILD_INFO, BUILD_LOG):
                    built = os.path.join(os.path.dirname(regular_file), name)
                    kept = os.path.join(os.path.dirname(inplace_file), name)
                    if os.path.exists(built):
                        self.copy_file(built, kept, level=self.verbose)
                    elif os.path.exists(kept):
                        os.remove(kept)  # a failure log from an earlier build

        def _cpu_isa_objects(self, ext):
            """Compiles cuda_kernels/cpu/*.cpp once per ISA level with the namespace renamed, then
            makes each level one object whose only global symbols are its own: inline functions of
            torch/std headers compiled with AVX-512 must not stand in for the baseline's copies."""
            cpu = ext.neurosim_cpu
            objects = []
            for level, flags in cpu["levels"].items():
                out_dir = os.path.join(self.build_temp, f"cpu_{level}")
                objs = self.compiler.compile(
                    cpu["sources"], output_dir=out_dir,
                    # the wider levels hold float32 kernels only (the dispatcher sends every
                    # other dtype to the baseline copy): a third of the build time each
                    macros=[("neurosim", f"neurosim_isa_{level}"), ("NEUROSIM_CPU_ISA", level)]
                    + ([("NEUROSIM_CPU_FLOAT32_ONLY", "1")] if level != "baseline" else []),
                    include_dirs=cpu["include_dirs"],
                    extra_postargs={"cxx": cpu["cxx"] + flags + ["-fPIC"]} if self.use_ninja
                    else cpu["cxx"] + flags + ["-fPIC"])
                merged = os.path.join(out_dir, f"neurosim_cpu_{level}.o")
                linker = self.compiler.linker_so[0]
                subprocess.run([linker, "-r", "-nostdlib", "-Wl,--force-group-allocation", "-o", merged, *objs],
                               check=True)
                own = (f"*neurosim_isa_{level}*", f"neurosim_cpu_*_{level}")
                subprocess.run(["objcopy", "--wildcard", *(f"--keep-global-symbol={p}" for p in own), merged],
                               check=True)
                # objcopy cannot localise GNU-unique symbols (function-local statics of inline
                # functions, e.g. ATen's thread-pool init flag): give this level's its own name.
                names = subprocess.run(["nm", "-g", "--defined-only", "--format=posix", merged], check=True,
                                       capture_output=True, text=True).stdout.split("\n")
                foreign = [line.split()[0] for line in names if line.strip()
                           and not any(fnmatch.fnmatchcase(line.split()[0], p) for p in own)]
                if foreign:
                    subprocess.run(["objcopy", *(f"--redefine-sym={n}={n}.neurosim_{level}" for n in foreign), merged],
                                   check=True)
                objects.append(merged)
            return objects

    return NeurosimBuildExt


ext_modules, cmdclass = _extensions()

setup(
    packages=find_packages(include=["neurosim", "neurosim.*"]),
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
