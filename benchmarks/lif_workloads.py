"""Open Neuromorphic LIF workloads (LIF alone and Linear+LIF, T=500, B=16) for neurosim and
its peers: prints a table and writes JSON and a PNG. Same as ``neurosim bench``; run
``python benchmarks/lif_workloads.py --help`` for options."""

import sys

from neurosim.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
