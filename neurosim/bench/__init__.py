"""Benchmarks: the Open Neuromorphic LIF workloads for neurosim and its peers."""
