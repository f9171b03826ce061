"""Hand-made mutations of the code, applied one at a time, each of which the test suite must catch.

Each mutation is a bug that once existed or that a plausible edit would introduce, and names the
tests that should fail because of it. The script copies the working tree (with the built
extension) to a scratch folder, applies one mutation there, runs the named tests and restores the
file; it prints a table and exits 1 when a mutation survives.

    python tests/mutation_check.py            # all mutations (a few minutes)
    python tests/mutation_check.py --list     # names only
    python tests/mutation_check.py theta-phase-sign fsync-before-rename

``tests/test_adversarial.py`` checks that every ``old`` text below still occurs exactly once in its
file, so the list cannot silently rot when the code moves. Mutations of the C++ step math need a
rebuild per mutant and are not listed here (the suite caught all 7 tried by hand).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: List[str]


ADV = "tests/test_adversarial.py"

MUTATIONS = [
    Mutation("nmnist-overflow-once", "neurosim/data/formats.py",
             "t = t + np.cumsum(overflow) * _OVERFLOW_STEP_US",
             "t = t + (np.cumsum(overflow) > 0) * _OVERFLOW_STEP_US",
             [f"{ADV}::test_nmnist_overflow_adds_one_period_per_marker"]),
    Mutation("theta-phase-sign", "neurosim/models/hippocampus/theta.py",
             "cycle = np.mod(t * self.frequency + self.phase + _PHASE_EPS, 1.0)",
             "cycle = np.mod(t * self.frequency - self.phase + _PHASE_EPS, 1.0)",
             [f"{ADV}::test_theta_phase_offset_is_a_shift_forward_in_the_cycle"]),
    Mutation("fsync-before-rename", "neurosim/training/checkpoint.py",
             "            f.flush()\n            os.fsync(f.fileno())\n",
             "            f.flush()\n",
             [f"{ADV}::test_checkpoint_is_fsynced_before_the_rename"]),
    Mutation("checkpoint-crc-skipped", "neurosim/training/checkpoint.py",
             "    _check_readable(path)\n    verify_archive(path)\n",
             "    _check_readable(path)\n",
             [f"{ADV}::test_a_flipped_byte_never_loads_changed_values",
              f"{ADV}::test_checkpoint_member_crc_mismatch_names_the_member"]),
    Mutation("stale-temporaries-kept", "neurosim/training/checkpoint.py",
             "        remove_stale_temporaries(path)\n", "",
             [f"{ADV}::test_killed_writers_leave_no_temporaries_behind"]),
    Mutation("load-checkpoint-no-rollback", "neurosim/training/trainer.py",
             "            self.module.load_state_dict(saved[0])\n", "",
             [f"{ADV}::test_load_checkpoint_is_all_or_nothing"]),
    Mutation("resume-keeps-old-schedule", "neurosim/training/job.py",
             "        extend_cosine_schedule(scheduler, trainer.epoch, max(config.epochs, 1))\n", "",
             [f"{ADV}::test_extending_a_finished_run_equals_an_uninterrupted_run"]),
    Mutation("evaluation-draws-fresh-spikes", "neurosim/training/trainer.py",
             "        torch.manual_seed(self.seed * 100_003 + 99_991)\n", "",
             [f"{ADV}::test_evaluation_scores_a_model_the_same_whatever_the_random_state"]),
    Mutation("learner-online-unchecked", "neurosim/plasticity/learner.py",
             "self.params = _checked_params(params)", "self.params = dict(params)",
             [f"{ADV}::test_learner_refuses_bad_parameters_in_both_modes"]),
    Mutation("eps-plain-clamp", "neurosim/neurons/ultralif.py",
             "return bounded(self.log_eps, math.log(self.eps_range[0]), math.log(self.eps_range[1])).exp()",
             "return self.log_eps.exp().clamp(*self.eps_range)",
             [f"{ADV}::test_eps_at_the_lower_bound_still_learns"]),
    Mutation("tau-clamped-silently", "neurosim/neurons/ultralif.py",
             "                self._check_learned_tau(tau_t)\n", "",
             [f"{ADV}::test_learned_tau_outside_its_range_is_refused"]),
    Mutation("framing-drops-last-event", "neurosim/data/events.py",
             "counts = np.bincount(flat, minlength=steps * per_step)",
             "counts = np.bincount(flat[:-1], minlength=steps * per_step)",
             [f"{ADV}::test_framing_counts_every_event_of_tiny_recordings",
              f"{ADV}::test_framing_equals_a_direct_histogram"]),
    Mutation("shd-time-overflow-unchecked", "neurosim/data/formats.py",
             "        if t.size and t.max() * 1e6 >= _MAX_INT64_US:",
             "        if False:",
             [f"{ADV}::test_read_shd_refuses_times_that_overflow_microseconds"]),
    Mutation("stdp-events-through-nan", "neurosim/plasticity/rules.py",
             "if _use_events(spikes2, backend, dense2) and _finite_on_cpu(dense2):",
             "if _use_events(spikes2, backend, dense2):",
             [f"{ADV}::test_stdp_with_given_traces_agrees_on_nan"]),
    Mutation("reset-gradient-detached", "neurosim/core/reference.py",
             "            r = surrogate(shift_prev)\n",
             "            r = surrogate(shift_prev).detach()\n",
             [f"{ADV}::test_reset_gradient_with_detach_reset_false_and_threshold_not_one"]),
    Mutation("cli-hidden-unchecked", "neurosim/cli.py",
             't.add_argument("--hidden", type=int_range(1, MAX_HIDDEN),',
             't.add_argument("--hidden", type=int,',
             [f"{ADV}::test_cli_user_mistakes_in_process"]),
    Mutation("nan-pixel-unchecked", "neurosim/training/encoders.py",
             "    _check_input(x, \"x\")\n    p = (gain * x).clamp(0.0, 1.0)",
             "    p = (gain * x).clamp(0.0, 1.0)",
             [f"{ADV}::test_nan_pixel_is_named_before_encoding"]),
]


def check_targets(root: str = ROOT) -> List[str]:
    """Problems with the list: an ``old`` text that no longer occurs exactly once, a test file that is gone."""
    problems = []
    for m in MUTATIONS:
        with open(os.path.join(root, m.path), encoding="utf-8") as f:
            count = f.read().count(m.old)
        if count != 1:
            problems.append(f"{m.name}: the text to mutate occurs {count} times in {m.path}")
        for test in m.tests:
            if not os.path.isfile(os.path.join(root, test.split("::")[0])):
                problems.append(f"{m.name}: test file of {test} not found")
    return problems


def _copy_tree(dst: str) -> None:
    ignore = shutil.ignore_patterns(".git", "build", "__pycache__", "*.egg-info", ".pytest_cache", "results")
    shutil.copytree(ROOT, dst, ignore=ignore, dirs_exist_ok=True)
    for built in glob.glob(os.path.join(ROOT, "neurosim", "_C*.so")):  # the extension, if built in place
        shutil.copy2(built, os.path.join(dst, "neurosim"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutations")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    problems = check_targets()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.list or not chosen:
        print("\n".join(m.name for m in MUTATIONS))
        return 0 if chosen or args.list else 2
    survived = []
    with tempfile.TemporaryDirectory(prefix="neurosim-mutants-") as work:
        _copy_tree(work)
        print(f"{'mutation':32s} {'caught':>7s} {'seconds':>8s}")
        for m in chosen:
            path = os.path.join(work, m.path)
            with open(path, encoding="utf-8") as f:
                original = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(original.replace(m.old, m.new))
            started = time.perf_counter()
            env = dict(os.environ, PYTHONPATH=work, OMP_NUM_THREADS="1")
            proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
                                  cwd=work, env=env, capture_output=True, text=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
            caught = proc.returncode == 1  # tests failed (not: collection error 2, or passing 0)
            if not caught:
                survived.append(m.name)
            print(f"{m.name:32s} {'yes' if caught else 'NO':>7s} {time.perf_counter() - started:8.1f}", flush=True)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutations caught" +
          (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
