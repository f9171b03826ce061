"""NIR interchange (neurosim.interop.to_nir / from_nir) and the neuron options that express NIR's
equations exactly on the fused neurons (reset_delay=False, v_reset, v_leak, input_scale).

References: NIR's ODEs stepped with forward Euler in a NumPy simulation written here; snnTorch's
own ``Leaky``/``Synaptic``/``RLeaky`` with ``reset_delay=False`` and its ``import_from_nir``; Norse's
``from_nir`` where its installed version runs the exported nodes.
"""

import contextlib
import copy
import io
import logging
import warnings

import nir
import numpy as np
import pytest
import torch

import neurosim
from neurosim import layers as L
from neurosim.interop import Flatten, GraphModule, Scale, SumPool2d, Threshold, from_nir, to_nir

DT = 1e-4
NEURONS = (neurosim.LIF, neurosim.Synaptic, neurosim.LI, neurosim.RLIF, neurosim.RSynaptic)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _uniform(shape, low, high, gen):
    return torch.rand(shape, generator=gen) * (high - low) + low


def _through_file(graph, tmp_path, name="graph.nir"):
    path = tmp_path / name
    nir.write(path, graph)
    read = nir.read(path)
    read.infer_types()  # type inference passes on every export, also after the file
    read.check_types()
    return path, read


def _full(module, x):
    """The module's whole result (output, state, membrane) on ``x``."""
    module = copy.deepcopy(module)
    module.return_state = True
    if hasattr(module, "record_membrane"):
        module.record_membrane = True
    return module(x)


def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _neuron_inputs(model, x):
    """Every neuron layer of ``model`` with the input it sees on ``x``."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append((m, args[0])))
             for m in model.modules() if isinstance(m, NEURONS)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


# ---- round trips: neurosim -> NIR file -> neurosim, identical ------------------------------------

def _case(name, seed=0):
    g = _gen(seed)
    x = _uniform((40, 3, 6), 0.0, 1.5, g)
    n = 8
    if name == "lif_undelayed":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.LIF(0.9, 0.6, reset="zero", reset_delay=False))
    elif name == "lif_delayed_zero":  # exact in NIR: the same spikes; metadata restores the membrane's reporting
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.LIF(0.85, 0.5, reset="zero"))
    elif name == "lif_per_neuron_nir_terms":
        lif = neurosim.LIF(_uniform(n, 0.6, 0.97, g), _uniform(n, 0.4, 0.9, g), reset="zero", reset_delay=False,
                           v_reset=_uniform(n, -0.3, 0.1, g), v_leak=_uniform(n, -0.2, 0.2, g),
                           input_scale=_uniform(n, 0.5, 2.0, g), surrogate=neurosim.surrogate.atan(3.0))
        model = torch.nn.Sequential(torch.nn.Linear(6, n), lif)
    elif name == "if":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.LIF(1.0, 0.8, reset="zero", reset_delay=False,
                                                                         v_reset=-0.1, input_scale=0.5))
    elif name == "li":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.LI(_uniform(n, 0.5, 0.95, g),
                                                                        v_leak=_uniform(n, -0.2, 0.2, g),
                                                                        input_scale=0.7))
    elif name == "integrator":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.LI(1.0, input_scale=0.3))
    elif name == "synaptic":
        syn = neurosim.Synaptic(_uniform(n, 0.5, 0.9, g), 0.9, _uniform(n, 0.3, 0.8, g), reset="zero",
                                reset_delay=False, v_reset=-0.05, v_leak=0.1, input_scale=_uniform(n, 0.5, 1.5, g))
        model = torch.nn.Sequential(torch.nn.Linear(6, n), syn, torch.nn.Linear(n, 4),
                                    neurosim.Synaptic(0.8, 0.85, 0.4, reset="zero", reset_delay=False))
    elif name == "rlif_all_to_all":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.RLIF(n, 0.9, 0.5, reset="zero", reset_delay=False))
    elif name == "rlif_one_to_one":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.RLIF(n, _uniform(n, 0.7, 0.95, g), 0.5,
                                                                          all_to_all=False, V=_uniform(n, -1, 1, g),
                                                                          reset="zero", reset_delay=False))
    elif name == "rsynaptic":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.RSynaptic(n, 0.7, 0.9, 0.5, reset="zero",
                                                                               reset_delay=False, bias=False))
    elif name == "recurrent_nir_terms":
        rlif = neurosim.RLIF(n, _uniform(n, 0.7, 0.95, g), 0.5, reset="zero", reset_delay=False,
                             v_reset=_uniform(n, -0.3, 0.0, g), v_leak=0.1, input_scale=_uniform(n, 0.5, 1.5, g))
        rsyn = neurosim.RSynaptic(5, 0.7, 0.9, 0.4, all_to_all=False, V=_uniform(5, -1, 1, g), reset="zero",
                                  reset_delay=False, v_reset=-0.1, v_leak=_uniform(5, -0.1, 0.1, g), input_scale=1.3)
        model = torch.nn.Sequential(torch.nn.Linear(6, n), rlif, torch.nn.Linear(n, 5), rsyn)
    elif name == "scale_threshold":
        model = torch.nn.Sequential(torch.nn.Linear(6, n), Scale(_uniform(n, -2, 2, g)), Threshold(0.3))
    elif name == "lif_no_reset":  # exported as LI -> Threshold, exactly
        model = torch.nn.Sequential(torch.nn.Linear(6, n), neurosim.LIF(0.9, 0.7, reset="none"))
    elif name == "conv1d":
        x = _uniform((20, 2, 2, 10), 0.0, 1.0, g)
        model = torch.nn.Sequential(L.Conv1d(2, 3, 3, padding=1), neurosim.LIF(0.9, 0.3, reset="zero",
                                                                              reset_delay=False),
                                    Flatten(0, -1), torch.nn.Linear(30, 5, bias=False))
    elif name == "conv2d_avgpool":
        x = _uniform((12, 2, 2, 8, 8), 0.0, 1.0, g)
        model = torch.nn.Sequential(L.Conv2d(2, 4, 3, stride=1, padding=1, bias=False), L.AvgPool2d(2),
                                    neurosim.LIF(_uniform((4, 1, 1), 0.8, 0.95, g), 0.2, reset="zero",
                                                 reset_delay=False),
                                    L.Flatten(), torch.nn.Linear(64, 5))
    else:
        raise KeyError(name)
    return model, x


ROUND_TRIPS = ["lif_undelayed", "lif_delayed_zero", "lif_per_neuron_nir_terms", "if", "li", "integrator", "synaptic",
               "rlif_all_to_all", "rlif_one_to_one", "rsynaptic", "recurrent_nir_terms", "scale_threshold", "lif_no_reset", "conv1d",
               "conv2d_avgpool"]


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_round_trip_is_identical(name, tmp_path):
    torch.manual_seed(0)
    model, x = _case(name)
    graph = to_nir(model, x)
    path, _ = _through_file(graph, tmp_path)
    imported = from_nir(path)
    assert isinstance(imported, GraphModule)
    with torch.no_grad():
        expected, got = model(x), imported(x)
    assert torch.equal(expected, got), f"{name}: {(expected != got).sum().item()} mismatches"
    if expected.unique().numel() <= 2 and not name.startswith(("li", "integrator")):
        assert expected.sum() > 0, "the case must spike to test anything"
    # the state too: every neuron of the original against its imported twin, on the same input
    originals = _neuron_inputs(model, x)
    twins = [m for m in imported.modules() if isinstance(m, NEURONS)]
    if name == "lif_no_reset":
        assert [type(m) for m in twins] == [neurosim.LI]
        lif, inp = originals[0]
        torch.testing.assert_close(_full(lif, inp).membrane, twins[0](inp), rtol=0, atol=0)
        return
    assert [type(m) for m, _ in originals] == [type(m) for m in twins]
    for (original, inp), twin in zip(originals, twins):
        a, b = _tensors(_full(original, inp)), _tensors(_full(twin, inp))
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert torch.equal(u, v), f"{name}: {type(original).__name__} state differs by {(u - v).abs().max()}"


def _grouped_case(name):
    g = _gen(11)
    lif = neurosim.LIF(0.9, 0.3, reset="zero", reset_delay=False)
    if name == "conv1d_groups4":
        return (torch.nn.Sequential(L.Conv1d(4, 8, 3, padding=1, groups=4), lif, Flatten(0, -1),
                                    torch.nn.Linear(8 * 10, 5)), _uniform((20, 2, 4, 10), 0.0, 1.0, g))
    if name == "conv2d_groups2":
        return (torch.nn.Sequential(L.Conv2d(2, 4, 3, padding=1, groups=2), lif),
                _uniform((20, 2, 2, 8, 8), 0.0, 1.0, g))
    if name == "conv2d_depthwise_after_conv":  # a grouped conv after another layer, stride and no bias
        return (torch.nn.Sequential(L.Conv2d(2, 6, 3, padding=1), lif, L.Conv2d(6, 6, 3, stride=2, padding=1,
                                                                                 groups=6, bias=False),
                                    neurosim.LIF(0.9, 0.3, reset="zero", reset_delay=False)),
                _uniform((20, 2, 2, 8, 8), 0.0, 1.0, g))
    raise KeyError(name)


@pytest.mark.parametrize("name", ["conv1d_groups4", "conv2d_groups2", "conv2d_depthwise_after_conv"])
def test_grouped_conv_round_trip(name, tmp_path):
    """Grouped convolutions export with NIR's ``groups`` and weight [C_out, C_in/groups, ...] and their
    true input channels (nir 1.0.8 derives weight.shape[1] = C_in/groups, failing its own type check),
    and come back from the graph and from the file with identical spikes, and export again."""
    torch.manual_seed(0)
    model, x = _grouped_case(name)
    graph = to_nir(model, x[:1, :1])
    convs = [(k, n) for k, n in graph.nodes.items() if isinstance(n, (nir.Conv1d, nir.Conv2d))]
    grouped = [(k, n) for k, n in convs if int(n.groups) > 1]
    assert len(grouped) == 1
    key, node = grouped[0]
    layer = [m for m in model if isinstance(m, torch.nn.modules.conv._ConvNd) and m.groups > 1][0]
    assert int(node.groups) == layer.groups
    assert np.shape(node.weight) == tuple(layer.weight.shape)
    assert int(node.input_type["input"][0]) == layer.in_channels
    path = tmp_path / "grouped.nir"
    nir.write(path, graph)
    with torch.no_grad():
        expected = model(x)
        assert expected.abs().sum() > 0
        for imported in (from_nir(graph), from_nir(path)):
            (twin,) = [m for m in imported.modules() if isinstance(m, torch.nn.modules.conv._ConvNd) and m.groups > 1]
            assert (twin.groups, twin.in_channels, twin.out_channels) == (layer.groups, layer.in_channels,
                                                                           layer.out_channels)
            assert torch.equal(imported(x), expected)
    again = to_nir(from_nir(path), x[:1, :1])
    assert int(again.nodes[key].groups) == layer.groups


def test_round_trip_recovers_the_parameters_bit_for_bit():
    """beta -> tau = dt/(1 - beta) -> 1 - dt/tau in float64 returns the same float32 (the float64
    error is ~1e-16 relative, far below half a float32 ulp); so do the input scale and CubaLIF's."""
    g = _gen(3)
    beta, scale = _uniform(1000, 0.0, 0.999, g), _uniform(1000, 0.01, 10.0, g)
    model = neurosim.LIF(beta, 1.0, reset="zero", reset_delay=False, input_scale=scale)
    imported = from_nir(to_nir(model, torch.rand(1, 1, 1000)))
    (lif,) = [m for m in imported.modules() if isinstance(m, neurosim.LIF)]
    assert torch.equal(lif.beta, beta) and torch.equal(lif.input_scale, scale)
    syn = neurosim.Synaptic(beta, beta.flip(0), 1.0, reset="zero", reset_delay=False, input_scale=scale)
    (twin,) = [m for m in from_nir(to_nir(syn, torch.rand(1, 1, 1000))).modules() if isinstance(m, neurosim.Synaptic)]
    assert torch.equal(twin.alpha, beta) and torch.equal(twin.beta, beta.flip(0))
    assert torch.equal(twin.input_scale, scale)


def test_conv_graph_round_trip(tmp_path):
    """The issue's conv graph: Conv2d -> SumPool2d -> Flatten -> Affine -> LIF, with a LIF of
    per-neuron [C, H, W] parameters after the pooling."""
    torch.manual_seed(0)
    g = _gen(1)
    lif = neurosim.LIF(_uniform((4, 4, 4), 0.8, 0.95, g), _uniform((4, 4, 4), 0.5, 1.5, g), reset="zero",
                       reset_delay=False)
    model = torch.nn.Sequential(L.Conv2d(2, 4, 3, padding=1), SumPool2d(2), lif, L.Flatten(),
                                torch.nn.Linear(64, 10), neurosim.LIF(0.9, 0.5, reset="zero", reset_delay=False))
    x = _uniform((25, 3, 2, 8, 8), 0.0, 1.0, g)
    graph = to_nir(model, x)
    kinds = [type(graph.nodes[k]).__name__ for k in graph.nodes]
    assert kinds.count("Conv2d") == 1 and "SumPool2d" in kinds and "Flatten" in kinds and "Affine" in kinds
    assert np.array_equal(graph.nodes[[k for k in graph.nodes if kinds[list(graph.nodes).index(k)] == "Flatten"][0]]
                          .output_type["output"], [64])
    path, read = _through_file(graph, tmp_path)
    imported = from_nir(path)
    with torch.no_grad():
        expected = model(x)
        assert expected.sum() > 0
        assert torch.equal(expected, imported(x))


def test_branches_are_summed_as_nir_edges(tmp_path):
    torch.manual_seed(0)
    class TwoPaths(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(5, 6), torch.nn.Linear(5, 6, bias=False)
            self.lif = neurosim.LIF(0.9, 0.5, reset="zero", reset_delay=False)

        def forward(self, x):
            return self.lif(self.a(x) + self.b(x))

    model, x = TwoPaths(), torch.rand(30, 2, 5)
    graph = to_nir(model, x)
    assert sum(1 for e in graph.edges if e[1] == "lif") == 2
    imported = from_nir(_through_file(graph, tmp_path)[0])
    with torch.no_grad():
        assert torch.equal(model(x), imported(x))


class _SharedLayer(torch.nn.Module):
    """One module ``shared`` called after two linear layers of widths ``first`` and ``second``."""

    def __init__(self, shared, first, second):
        super().__init__()
        self.a, self.b, self.shared = torch.nn.Linear(5, first), torch.nn.Linear(first, second), shared

    def forward(self, x):
        return self.shared(self.b(self.shared(self.a(x))))


def test_a_module_called_at_two_shapes_is_refused_by_name():
    x = torch.rand(6, 2, 5)
    for shared, kind in ((neurosim.LIF(0.9, 0.5, reset="zero", reset_delay=False), "LIF"),
                         (Threshold(0.5), "Threshold"), (neurosim.LI(0.8), "LI")):
        with pytest.raises(ValueError, match=f"layer 'shared' \\({kind}\\) is called at 2 different shapes.*"
                                             f"\\(6,\\) -> \\(6,\\), \\(4,\\) -> \\(4,\\)"):
            to_nir(_SharedLayer(shared, 6, 4), x)


def test_a_module_called_twice_at_one_shape_exports_one_node_per_call(tmp_path):
    torch.manual_seed(0)
    model, x = _SharedLayer(neurosim.LIF(0.9, 0.5, reset="zero", reset_delay=False), 6, 6), torch.rand(20, 2, 5) * 2
    graph = to_nir(model, x)
    assert sum(isinstance(node, nir.LIF) for node in graph.nodes.values()) == 2
    imported = from_nir(_through_file(graph, tmp_path)[0])
    with torch.no_grad():
        assert torch.equal(model(x), imported(x))


def test_metadata_records_neurosim_facts(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), neurosim.LIF(0.9, reset="zero",
                                                                     surrogate=neurosim.surrogate.triangle(0.5)))
    _, read = _through_file(to_nir(model, torch.rand(2, 1, 3), dt=1e-3), tmp_path)
    (lif,) = [n for n in read.nodes.values() if isinstance(n, nir.LIF)]
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in lif.metadata.items()}
    assert meta["neurosim_surrogate"] == "triangle" and float(meta["neurosim_surrogate_param"]) == 0.5
    assert meta["neurosim_reset"] == "zero" and bool(meta["neurosim_reset_delay"]) is True
    assert float(meta["neurosim_dt"]) == 1e-3
    np.testing.assert_allclose(lif.tau, 1e-3 / (1 - np.float32(0.9)))
    twin = [m for m in from_nir(read, dt=1e-3).modules() if isinstance(m, neurosim.LIF)][0]
    assert twin.surrogate == neurosim.surrogate.triangle(0.5) and twin.reset_delay is True


# ---- NIR's equations in NumPy ------------------------------------------------------------------

def _simulate(layers, x, dt):
    """NIR's ODEs stepped with forward Euler, float64, written from NIR's definitions:
    LIF ``tau dv/dt = v_leak - v + r I``; CubaLIF ``tau_syn dI/dt = -I + w_in S``,
    ``tau_mem dv/dt = v_leak - v + r I``; LI like LIF without spikes; IF ``dv/dt = r I``;
    ``z = v > v_threshold``, then ``v = v_reset`` where z. The current is updated first and the
    membrane integrates the new current (snnTorch's and neurosim's order)."""
    out = x.astype(np.float64)
    for kind, p in layers:
        if kind == "affine":
            out = out @ p["weight"].T + p["bias"]
            continue
        steps, batch, n = out.shape
        v = np.zeros((batch, n))
        i_syn = np.zeros((batch, n))
        result = np.zeros_like(out)
        for t in range(steps):
            inp = out[t]
            if kind == "lif":
                v = v + dt / p["tau"] * (p["v_leak"] - v + p["r"] * inp)
            elif kind == "cubalif":
                i_syn = i_syn + dt / p["tau_syn"] * (-i_syn + p["w_in"] * inp)
                v = v + dt / p["tau_mem"] * (p["v_leak"] - v + p["r"] * i_syn)
            elif kind == "li":
                v = v + dt / p["tau"] * (p["v_leak"] - v + p["r"] * inp)
                result[t] = v
                continue
            elif kind == "if":
                v = v + dt * p["r"] * inp
            z = v > p["v_threshold"]
            v = np.where(z, p["v_reset"], v)
            result[t] = z
        out = result
    return out


def _random_layers(rng, sizes, dt):
    layers, nodes = [], {}
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(0, 1.2 / np.sqrt(n_in), (n_out, n_in))
        b = rng.normal(0.1, 0.1, n_out)
        layers.append(("affine", dict(weight=w, bias=b)))
        nodes[f"affine{index}"] = nir.Affine(weight=w, bias=b)
        kind = ("lif", "cubalif", "if", "lif")[index % 4] if index < len(sizes) - 2 else "li"
        tau = rng.uniform(2 * dt, 20 * dt, n_out)
        common = dict(v_leak=rng.uniform(-0.2, 0.2, n_out), v_threshold=rng.uniform(0.2, 0.8, n_out),
                      v_reset=rng.uniform(-0.3, 0.1, n_out))
        if kind == "lif":
            p = dict(tau=tau, r=rng.uniform(0.5, 2.0, n_out) * tau / dt, **common)
            nodes[f"neuron{index}"] = nir.LIF(**p)
        elif kind == "cubalif":
            tau_syn = rng.uniform(2 * dt, 10 * dt, n_out)
            p = dict(tau_syn=tau_syn, tau_mem=tau, r=rng.uniform(0.5, 2.0, n_out) * tau / dt,
                     w_in=rng.uniform(0.5, 2.0, n_out) * tau_syn / dt, **common)
            nodes[f"neuron{index}"] = nir.CubaLIF(**p)
        elif kind == "if":
            p = dict(r=rng.uniform(0.2, 1.0, n_out) / dt, v_threshold=common["v_threshold"], v_reset=common["v_reset"])
            nodes[f"neuron{index}"] = nir.IF(**p)
        else:
            p = dict(tau=tau, r=rng.uniform(0.5, 2.0, n_out) * tau / dt, v_leak=common["v_leak"])
            nodes[f"neuron{index}"] = nir.LI(**p)
        layers.append((kind, p))
    names = list(nodes)
    nodes["input"] = nir.Input(input_type=np.array([sizes[0]]))
    nodes["output"] = nir.Output(output_type=np.array([sizes[-1]]))
    edges = list(zip(["input", *names], [*names, "output"]))
    return layers, nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("seed", range(4))
def test_from_nir_follows_nir_equations(seed):
    """Random Affine/LIF/CubaLIF/IF/LI graphs with per-neuron tau, r, w_in, v_leak, v_reset and
    thresholds against the float64 NumPy simulation. neurosim computes in float32 and in the
    scan's operation order (beta = 1 - dt/tau, the input scaled by r*dt/tau), so a membrane
    within ~1e-6 of a threshold can fall on the other side; the target allows 1 mismatch in 500
    spikes entries. The LI readout agrees to float32 precision where no spike upstream differs."""
    rng = np.random.default_rng(seed)
    sizes = [7, 12, 10, 9, 11, 5]
    layers, graph = _random_layers(rng, sizes, DT)
    x = rng.uniform(0, 1.0, (120, 4, sizes[0]))
    imported = from_nir(graph, dt=DT)
    # compare every spiking layer on its own reference input (so one flipped spike is counted once,
    # not again in every layer downstream)
    seen = _neuron_inputs(imported, torch.from_numpy(x).float())
    neuron_layers = [(k, p) for k, p in layers if k != "affine"]
    assert len(seen) == len(neuron_layers)
    mismatches = entries = spikes = 0
    for (module, inp), (kind, p) in zip(seen, neuron_layers):
        with torch.no_grad():
            ours = module(inp).double().numpy()
        ref = _simulate([(kind, p)], inp.double().numpy(), DT)
        if kind == "li":
            np.testing.assert_allclose(ours, ref, rtol=2e-4, atol=2e-4)
            continue
        mismatches += int((ours != ref).sum())
        entries += ref.size
        spikes += int(ref.sum())
    assert spikes > entries * 0.02, "the layers must spike to test anything"
    assert mismatches * 500 <= entries, f"{mismatches} mismatches in {entries}"
    # and end to end through the whole graph
    with torch.no_grad():
        end = imported(torch.from_numpy(x).float()).double().numpy()
    np.testing.assert_allclose(end, _simulate(layers, x, DT), rtol=1e-3, atol=1e-3)


# ---- peers --------------------------------------------------------------------------------------

def _step_run(module, x):
    state, out = None, []
    for t in range(x.shape[0]):
        y, state = module(x[t], state)
        out.append(y)
    return torch.stack(out)


def test_snntorch_imports_our_exports_spike_for_spike():
    """snnTorch 1.0's import_from_nir builds Leaky/Synaptic(reset_delay=False) and runs the
    recurrent subgraph through nirtorch's executor; identical spikes, also for neurosim's delayed
    zero reset (which NIR represents exactly). snnTorch requires one threshold per layer.
    The recurrence is bias-free: nirtorch's executor stands a zero tensor in for the recurrent
    Affine's output at the first step, which drops its bias there (neurosim and snnTorch's own
    RLeaky add it, W*0 + b)."""
    torch.manual_seed(0)
    import_nir = pytest.importorskip("snntorch.import_nir")
    g = _gen(5)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), neurosim.LIF(0.9, 0.5, reset="zero", reset_delay=False),
                                torch.nn.Linear(16, 12), neurosim.Synaptic(0.8, 0.9, 0.3, reset="zero",
                                                                           reset_delay=False),
                                torch.nn.Linear(12, 9), neurosim.RLIF(9, 0.85, 0.4, reset="zero", reset_delay=False,
                                                                      bias=False),
                                torch.nn.Linear(9, 6), neurosim.LIF(0.8, 0.3, reset="zero"))
    x = _uniform((60, 4, 10), 0.0, 2.0, g)
    graph = to_nir(model, x)
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints its progress
        theirs = import_nir.import_from_nir(graph)
    with torch.no_grad():
        ours = model(x)
        got = _step_run(theirs, x)
    assert ours.sum() > 20
    assert torch.equal(ours, got), f"{(ours != got).sum().item()} mismatches"


def test_snntorch_leaky_synaptic_rleaky_match_the_undelayed_options():
    torch.manual_seed(0)
    snn = pytest.importorskip("snntorch")
    g = _gen(6)
    x = _uniform((80, 3, 12), -0.2, 1.0, g)
    cases = [(snn.Leaky(beta=0.83, threshold=0.7, reset_mechanism="zero", reset_delay=False),
              neurosim.LIF(0.83, 0.7, reset="zero", reset_delay=False, record_membrane=True), None),
             (snn.Synaptic(alpha=0.7, beta=0.83, threshold=0.7, reset_mechanism="zero", reset_delay=False),
              neurosim.Synaptic(0.7, 0.83, 0.7, reset="zero", reset_delay=False, record_membrane=True), None)]
    rleaky = snn.RLeaky(beta=0.83, threshold=0.5, reset_mechanism="zero", reset_delay=False, linear_features=12)
    rlif = neurosim.RLIF(12, 0.83, 0.5, reset="zero", reset_delay=False, record_membrane=True)
    rlif.recurrent.load_state_dict(rleaky.recurrent.state_dict())
    cases.append((rleaky, rlif, "recurrent"))
    for theirs, ours, kind in cases:
        spikes, mems = [], []
        with torch.no_grad():
            for t in range(x.shape[0]):
                out = theirs(x[t])
                spikes.append(out[0])
                mems.append(out[-1])
            result = ours(x)
        assert result.spikes.sum() > 0
        assert torch.equal(result.spikes, torch.stack(spikes)), type(ours).__name__
        assert torch.equal(result.membrane, torch.stack(mems)), type(ours).__name__


def test_snntorch_undelayed_reset_gradients_match_by_default():
    """snnTorch's reset_delay=False subtracts the step's own spike, which carries the surrogate
    gradient (only its delayed ``reset`` is detached): with the default detach_reset (None:
    snnTorch's convention) neurosim's gradients w.r.t. the input and the recurrent weights are
    snnTorch's; detach_reset=True still cuts them."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    g = _gen(13)
    T, B, n = 40, 3, 10
    x = _uniform((T, B, n), -0.5, 1.5, g)
    weights = torch.randn(T, B, n, generator=g)
    sg = snn.surrogate.fast_sigmoid(slope=25)

    def run_theirs(cell, inputs, recurrent=False):
        outs = []
        if recurrent:
            spk, mem = cell.init_rleaky()
            for t in range(T):
                spk, mem = cell(inputs[t], spk, mem)
                outs.append(spk)
        else:
            mem = cell.init_leaky()
            for t in range(T):
                spk, mem = cell(inputs[t], mem)
                outs.append(spk)
        return torch.stack(outs)

    rleaky = snn.RLeaky(beta=0.85, threshold=0.8, reset_mechanism="zero", reset_delay=False, linear_features=n,
                        spike_grad=sg)
    rlif = neurosim.RLIF(n, 0.85, 0.8, reset="zero", reset_delay=False)
    rlif.recurrent.load_state_dict(rleaky.recurrent.state_dict())
    cases = [(lambda v: run_theirs(snn.Leaky(beta=0.85, threshold=0.8, reset_mechanism="zero", reset_delay=False,
                                             spike_grad=sg), v),
              neurosim.LIF(0.85, 0.8, reset="zero", reset_delay=False), None),
             (lambda v: run_theirs(rleaky, v, recurrent=True), rlif, (rleaky, rlif))]
    snntorch_grads = []
    for theirs, ours, recurrent in cases:
        x_theirs, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
        s_theirs, s_ours = theirs(x_theirs), ours(x_ours)
        assert torch.equal(s_ours, s_theirs) and s_ours.sum() > 0
        (s_theirs * weights).sum().backward()
        (s_ours * weights).sum().backward()
        assert x_theirs.grad.abs().max() > 0
        torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=1e-5, atol=1e-6)
        snntorch_grads.append(x_theirs.grad)
        if recurrent is not None:
            torch.testing.assert_close(recurrent[1].recurrent.weight.grad, recurrent[0].recurrent.weight.grad,
                                       rtol=1e-5, atol=1e-6)
    cut = x.clone().requires_grad_()
    (neurosim.LIF(0.85, 0.8, reset="zero", reset_delay=False, detach_reset=True)(cut) * weights).sum().backward()
    assert not torch.allclose(cut.grad, snntorch_grads[0], rtol=1e-3, atol=1e-4)


def test_norse_from_nir_runs_our_exports():
    """Norse 1.1's from_nir (nirtorch's executor, LIFBoxCell / its CubaLIF) agrees on the nodes it
    reads fully: LIF with r = 1 (neurosim input_scale = dt/tau = 1 - beta) and CubaLIF. It ignores
    a LIF's r (it logs a warning and scales the input by dt/tau whatever r is), so the default
    r = tau/dt export of neurosim and snnTorch runs differently there; see docs/nir.md."""
    torch.manual_seed(0)
    norse = pytest.importorskip("norse.torch")
    g = _gen(7)
    beta = torch.tensor(0.9)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), neurosim.Synaptic(0.8, 0.9, 0.5, reset="zero",
                                                                            reset_delay=False),
                                torch.nn.Linear(16, 8), neurosim.LIF(beta, 0.05, reset="zero", reset_delay=False,
                                                                     input_scale=1 - beta))
    x = _uniform((60, 3, 10), 0.0, 4.0, g)
    graph = to_nir(model, x)
    np.testing.assert_allclose([n.r for n in graph.nodes.values() if isinstance(n, nir.LIF)][0], 1.0)
    logging.disable(logging.WARNING)
    try:
        theirs = norse.from_nir(graph, dt=DT)
    finally:
        logging.disable(logging.NOTSET)
    with torch.no_grad():
        ours = model(x)
        got = _step_run(theirs, x)
    assert ours.sum() > 20
    assert torch.equal(ours, got), f"{(ours != got).sum().item()} mismatches"


# ---- loud refusals ------------------------------------------------------------------------------

def _lif_graph(**override):
    n = 3
    params = dict(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    params.update(override)
    nodes = {"input": nir.Input(input_type=np.array([n])), "lif": nir.LIF(**params),
             "output": nir.Output(output_type=np.array([n]))}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "lif"), ("lif", "output")], type_check=False)


def test_import_refusals_name_the_node_or_argument(tmp_path):
    text = tmp_path / "notes.nir"
    text.write_text("not an HDF5 file")
    with pytest.raises(ValueError, match="graph_or_path.*not a NIR file"):
        from_nir(text)
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:  # HDF5, but not NIR
        f["data"] = np.zeros(3)
    with pytest.raises(ValueError, match="graph_or_path.*not a NIR file"):
        from_nir(tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError, match="graph_or_path"):
        from_nir(tmp_path / "missing.nir")
    with pytest.raises(TypeError, match="graph_or_path"):
        from_nir({"nodes": {}})
    for bad in (0, -1e-4, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="dt: expected a finite time step"):
            from_nir(_lif_graph(), dt=bad)
    for bad in ("1e-4", True, None, [1e-4]):  # not a number: a TypeError
        with pytest.raises(TypeError, match="dt: expected a number"):
            from_nir(_lif_graph(), dt=bad)
    for good in (np.float32(1e-4), np.float64(1e-4), 1e-4):  # any real number is taken
        assert from_nir(_lif_graph(), dt=good) is not None
    with pytest.raises(ValueError, match="'lif'.*tau contains NaN"):
        from_nir(_lif_graph(tau=np.array([1e-3, np.nan, 1e-3])))
    graph = _lif_graph()
    graph.nodes["lif"].v_leak = np.zeros(4)  # edited after construction: inconsistent shapes
    with pytest.raises(ValueError, match="'lif'.*inconsistent shapes"):
        from_nir(graph)
    with pytest.raises(ValueError, match="'lif'.*tau must be >= dt"):
        from_nir(_lif_graph(tau=np.full(3, 5e-5)))
    n = 3
    for node, err, words in ((nir.Delay(delay=np.ones(n)), ValueError, "'odd' \\(Delay\\).*no synaptic delays"),
                             (nir.CubaLI(tau_syn=np.ones(n), tau_mem=np.ones(n), r=np.ones(n), v_leak=np.zeros(n)),
                              TypeError, "'odd' has type CubaLI")):
        nodes = {"input": nir.Input(input_type=np.array([n])), "odd": node,
                 "output": nir.Output(output_type=np.array([n]))}
        with pytest.raises(err, match=words):
            from_nir(nir.NIRGraph(nodes=nodes, edges=[("input", "odd"), ("odd", "output")], type_check=False))
    # a cycle that is not a recurrent LIF/CubaLIF layer
    nodes = {"input": nir.Input(input_type=np.array([n])), "a": nir.Affine(weight=np.eye(n), bias=np.zeros(n)),
             "b": nir.Affine(weight=np.eye(n), bias=np.zeros(n)), "output": nir.Output(output_type=np.array([n]))}
    cyclic = nir.NIRGraph(nodes=nodes, edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
                          type_check=False)
    with pytest.raises(ValueError, match="cycle"):
        from_nir(cyclic)
    # the imported module checks its input against the graph's Input node
    with pytest.raises(ValueError, match="input node 'input'"):
        from_nir(_lif_graph())(torch.rand(5, 2, 4))


def test_recurrent_subgraph_shapes_are_checked():
    n = 3
    lif = nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    nodes = {"input": nir.Input(input_type=np.array([n])), "lif": lif, "w": nir.Linear(weight=np.ones((n, n + 1))),
             "output": nir.Output(output_type=np.array([n]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "output")],
                         type_check=False)
    with pytest.raises(ValueError, match="'lif'.*shape"):
        from_nir(graph)


def _simulate_recurrent(kind, p, w, b, x, dt):
    """A recurrent NIR subgraph stepped with forward Euler (float64): the loop carries the
    previous step's spikes, so the neuron's input is ``x_t + W z_{t-1} + b``."""
    steps, batch, n = x.shape
    v, i_syn, z = np.zeros((batch, n)), np.zeros((batch, n)), np.zeros((batch, n))
    out = np.zeros_like(x)
    for t in range(steps):
        inp = x[t] + z @ w.T + b
        if kind == "lif":
            v = v + dt / p["tau"] * (p["v_leak"] - v + p["r"] * inp)
        else:
            i_syn = i_syn + dt / p["tau_syn"] * (-i_syn + p["w_in"] * inp)
            v = v + dt / p["tau_mem"] * (p["v_leak"] - v + p["r"] * i_syn)
        z = (v > p["v_threshold"]).astype(np.float64)
        v = np.where(z > 0, p["v_reset"], v)
        out[t] = z
    return out


@pytest.mark.parametrize("kind", ["lif", "cubalif"])
def test_recurrent_subgraphs_follow_nir_equations(kind):
    """A recurrent LIF / CubaLIF subgraph (nested, as snnTorch writes it) with per-neuron tau, r,
    w_in, v_leak, v_reset and an Affine loop, against the NumPy simulation; float32 against float64
    as in test_from_nir_follows_nir_equations (at most 1 mismatch in 500)."""
    rng = np.random.default_rng(13)
    dt, n = DT, 10
    tau = rng.uniform(2 * dt, 20 * dt, n)
    common = dict(v_leak=rng.uniform(-0.2, 0.2, n), v_threshold=rng.uniform(0.2, 0.8, n),
                  v_reset=rng.uniform(-0.3, 0.1, n))
    if kind == "lif":
        p = dict(tau=tau, r=rng.uniform(0.5, 2.0, n) * tau / dt, **common)
        neuron = nir.LIF(**p)
    else:
        tau_syn = rng.uniform(2 * dt, 10 * dt, n)
        p = dict(tau_syn=tau_syn, tau_mem=tau, r=rng.uniform(0.5, 2.0, n) * tau / dt,
                 w_in=rng.uniform(0.5, 2.0, n) * tau_syn / dt, **common)
        neuron = nir.CubaLIF(**p)
    w, b = rng.normal(0, 0.4, (n, n)), rng.normal(0, 0.05, n)
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([n])), "lif": neuron,
                              "w_rec": nir.Affine(weight=w, bias=b), "output": nir.Output(output_type=np.array([n]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
                       type_check=False)
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([n])), "rec": sub,
                                "output": nir.Output(output_type=np.array([n]))},
                         edges=[("input", "rec"), ("rec", "output")], type_check=False)
    imported = from_nir(graph, dt=dt)
    layer = imported.nodes["rec"]
    assert isinstance(layer, neurosim.RLIF if kind == "lif" else neurosim.RSynaptic)
    x = rng.uniform(0, 1.0, (150, 4, n))
    with torch.no_grad():
        ours = imported(torch.from_numpy(x).float()).double().numpy()
    ref = _simulate_recurrent(kind, p, w, b, x, dt)
    assert ref.sum() > ref.size * 0.05
    assert int((ours != ref).sum()) * 500 <= ref.size, f"{int((ours != ref).sum())} mismatches in {ref.size}"


def test_export_refusals_name_the_layer():
    x = torch.rand(4, 2, 5)
    for layer, words in ((neurosim.ALIF(), "'1' \\(ALIF\\).*adaptive"), (neurosim.UltraLIF(), "'1' \\(UltraLIF\\)"),
                         (torch.nn.ReLU(), "'1' \\(ReLU\\)"), (L.Dropout(0.1), "'1' \\(Dropout\\)"),
                         (L.TimeDistributed(torch.nn.Linear(5, 5)), "'1' \\(TimeDistributed\\)")):
        with pytest.raises(TypeError, match=words):
            to_nir(torch.nn.Sequential(torch.nn.Linear(5, 5), layer), x)
    with pytest.raises(TypeError, match="MaxPool2d.*max pooling"):
        to_nir(torch.nn.Sequential(L.MaxPool2d(2)), torch.rand(2, 1, 1, 4, 4))
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="dt"):
            to_nir(neurosim.LIF(reset="zero"), x, dt=bad)
    with pytest.raises(ValueError, match="sample_data"):
        to_nir(neurosim.LIF(reset="zero"), torch.rand(5, 2))
    with pytest.raises(TypeError, match="model"):
        to_nir(lambda t: t, x)
    # dynamics NIR cannot express: refused by default, naming the layer
    for model, words in ((neurosim.LIF(), "subtractive reset"),
                         (neurosim.Synaptic(reset="zero"), "delayed zero reset"),
                         (neurosim.RLIF(5, reset="zero"), "delayed zero reset"),
                         (neurosim.Synaptic(reset="none"), "reset='none'")):
        with pytest.raises(ValueError, match=f"'model' \\({type(model).__name__}\\).*{words}"):
            to_nir(model, x)
    with pytest.raises(ValueError, match="beta = 1 for some neurons"):
        to_nir(neurosim.LIF(torch.tensor([1.0, 0.9, 0.9, 0.9, 0.9]), reset="zero"), x)


def test_approximate_export_warns_and_records_it():
    torch.manual_seed(0)
    x = torch.rand(20, 2, 5) * 2
    model = torch.nn.Sequential(torch.nn.Linear(5, 5), neurosim.LIF(0.9, 0.5))  # subtractive reset
    with pytest.warns(UserWarning, match="'1' \\(LIF\\): the subtractive reset.*approximate=True"):
        graph = to_nir(model, x, approximate=True)
    (lif,) = [n for n in graph.nodes.values() if isinstance(n, nir.LIF)]
    assert lif.metadata["neurosim_approximated"] == "the subtractive reset"
    assert lif.metadata["neurosim_reset"] == "subtract"
    # imported, the graph runs NIR's equations: the reset to zero (what the warning said)
    imported = [m for m in from_nir(graph).modules() if isinstance(m, neurosim.LIF)][0]
    assert imported.reset == "zero" and imported.reset_delay is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_nir(torch.nn.Sequential(torch.nn.Linear(5, 5), neurosim.LIF(0.9, 0.5, reset="zero")), x)


# ---- the neuron options -------------------------------------------------------------------------

def test_undelayed_zero_reset_has_the_delayed_spikes_and_the_post_reset_membrane():
    x = _uniform((100, 4, 9), -0.3, 1.0, _gen(8))
    delayed = neurosim.functional.lif(x, beta=0.9, threshold=0.8, reset="zero", record_membrane=True)
    undelayed = neurosim.functional.lif(x, beta=0.9, threshold=0.8, reset="zero", reset_delay=False,
                                        record_membrane=True)
    assert delayed.spikes.sum() > 0
    assert torch.equal(delayed.spikes, undelayed.spikes)
    assert torch.equal(undelayed.membrane, delayed.membrane * (1 - delayed.spikes))
    assert torch.equal(undelayed.state, delayed.state * (1 - delayed.spikes[-1]))


def _direct(x, beta, thr, v_reset, v_leak=0.0, scale=1.0, u0=None, current_decay=None):
    """NIR's discrete LIF (or CubaLIF with ``current_decay``) written out step by step in float64,
    from the membrane u0 (zeros by default), which is already past its reset: it spikes in the
    first step if it lies above threshold there."""
    u = torch.zeros(x.shape[1:], dtype=torch.float64) if u0 is None else u0.clone()
    syn = torch.zeros_like(u)
    spikes, mems = [], []
    for x_t in x:
        drive = scale * x_t
        if current_decay is not None:
            syn = current_decay * syn + drive
            drive = syn
        u = beta * u + (1 - beta) * v_leak + drive
        s = (u > thr).double()
        u = torch.where(s > 0, v_reset, u)
        spikes.append(s)
        mems.append(u)
    return torch.stack(spikes), torch.stack(mems)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_reset_value_leak_and_scale_follow_the_equations(backend):
    g = _gen(9)
    n = 7
    x = _uniform((150, 3, n), -0.5, 1.5, g).double()
    beta, thr = _uniform(n, 0.6, 0.95, g).double(), _uniform(n, 0.2, 0.9, g).double()
    v_reset, v_leak, scale = _uniform(n, -0.4, 0.1, g).double(), _uniform(n, -0.3, 0.3, g).double(), 0.8
    got = neurosim.functional.lif(x, beta=beta, threshold=thr, reset="zero", reset_delay=False, v_reset=v_reset,
                                  v_leak=v_leak, input_scale=scale, record_membrane=True, backend=backend)
    spikes, mems = _direct(x, beta, thr, v_reset, v_leak, scale)
    assert spikes.sum() > 50
    assert torch.equal(got.spikes, spikes)
    torch.testing.assert_close(got.membrane, mems, rtol=1e-12, atol=1e-12)
    # streaming in pieces continues the sequence exactly
    first = neurosim.functional.lif(x[:70], beta=beta, threshold=thr, reset="zero", reset_delay=False,
                                    v_reset=v_reset, v_leak=v_leak, input_scale=scale, backend=backend)
    rest = neurosim.functional.lif(x[70:], first.state, beta=beta, threshold=thr, reset="zero", reset_delay=False,
                                   v_reset=v_reset, v_leak=v_leak, input_scale=scale, backend=backend)
    assert torch.equal(torch.cat([first.spikes, rest.spikes]), spikes)


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("neuron", ["lif", "synaptic"])
def test_undelayed_reset_lets_a_starting_membrane_above_threshold_spike(neuron, backend):
    """reset_delay=False: the state before the first step is past its reset, so a membrane above
    threshold there spikes in the first step (and is then reset) instead of being reset before it
    (the fused scan's delayed reset treated it as a spike of step -1). Given states and, with a
    negative threshold (NIR graphs in millivolts), the default state at rest at zero."""
    g = _gen(12)
    n = 6
    x = _uniform((40, 3, n), -0.2, 0.6, g).double()
    thr = torch.tensor([1.0, 1.0, -0.5, -0.5, 0.3, 0.3], dtype=torch.float64)
    v_reset = torch.tensor([0.0, -0.2, -1.0, -0.7, 0.0, 0.1], dtype=torch.float64)
    u0 = torch.tensor([1.5, 0.2, 0.0, -0.9, 0.31, 0.3], dtype=torch.float64).expand(3, n)  # above, below, at threshold
    for given in (u0, None):
        start = u0 if given is not None else torch.zeros(3, n, dtype=torch.float64)
        if neuron == "lif":
            got = neurosim.functional.lif(x, given, beta=0.8, threshold=thr, reset="zero", reset_delay=False,
                                          v_reset=v_reset, record_membrane=True, backend=backend)
            spikes, mems = _direct(x, 0.8, thr, v_reset, u0=start)
        else:
            state = None if given is None else neurosim.functional.SynapticState(torch.zeros_like(u0), u0)
            got = neurosim.functional.synaptic(x, state, alpha=0.6, beta=0.8, threshold=thr, reset="zero",
                                               reset_delay=False, v_reset=v_reset, record_membrane=True,
                                               backend=backend)
            spikes, mems = _direct(x, 0.8, thr, v_reset, u0=start, current_decay=0.6)
        assert bool(spikes[0].any()) and spikes.sum() > 20
        assert torch.equal(got.spikes, spikes)
        torch.testing.assert_close(got.membrane, mems, rtol=1e-12, atol=1e-12)
    # a number threshold >= 0 with the default state keeps the single scan; a negative one does not
    for threshold in (0.4, -0.4):
        got = neurosim.functional.lif(x, beta=0.8, threshold=threshold, reset="zero", reset_delay=False,
                                      backend=backend)
        spikes, _ = _direct(x, 0.8, torch.tensor(threshold), 0.0)
        assert torch.equal(got.spikes, spikes)


def test_options_keep_gradients_of_the_plain_scan():
    x = _uniform((30, 2, 5), 0.0, 1.0, _gen(10)).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    # the same reset gradient on both sides (the undelayed reset's default keeps it, the delayed one's cuts it)
    a = neurosim.LIF(0.9, 0.5, reset="zero", reset_delay=False, input_scale=2.0, detach_reset=True)(x)
    b = neurosim.LIF(0.9, 0.5, reset="zero")(2.0 * x2)
    assert torch.equal(a, b)
    a.sum().backward()
    b.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    assert x.grad.abs().sum() > 0


def test_synaptic_undelayed_streams_and_checks_its_options():
    g = _gen(11)
    x = _uniform((60, 2, 4), 0.0, 1.0, g)
    kw = dict(alpha=0.7, beta=0.9, threshold=0.5, reset="zero", reset_delay=False, v_leak=0.1, v_reset=-0.1,
              input_scale=1.5)
    whole = neurosim.functional.synaptic(x, **kw)
    first = neurosim.functional.synaptic(x[:25], **kw)
    rest = neurosim.functional.synaptic(x[25:], first.state, **kw)
    assert whole.spikes.sum() > 0
    assert torch.equal(torch.cat([first.spikes, rest.spikes]), whole.spikes)
    with pytest.raises(ValueError, match="v_reset / v_leak"):
        neurosim.Synaptic(reset="zero", v_leak=0.2)
    with pytest.raises(ValueError, match="reset_delay"):
        neurosim.Synaptic(reset="subtract", reset_delay=False)
    with pytest.raises(ValueError, match="backend"):
        neurosim.RLIF(4, reset="zero", reset_delay=False, backend="cpp")
    with pytest.raises(TypeError, match="reset_delay"):
        neurosim.RLIF(4, reset="zero", reset_delay="no")
    with pytest.raises(ValueError, match="v_leak"):
        neurosim.LIF(reset="zero", v_leak=float("nan"))
    with pytest.raises(ValueError, match="reset_delay"):
        neurosim.LIF(reset="subtract", reset_delay=False)
    assert "reset_delay=False" in repr(neurosim.LIF(reset="zero", reset_delay=False, v_reset=0.5))


def test_imported_graphs_export_again(tmp_path):
    """A graph written elsewhere (here by hand, as snnTorch writes a Leaky), imported, fine-tuned
    and exported again: the second import runs identically, node names and edges kept."""
    n_in, n = 5, 4
    rng = np.random.default_rng(12)
    tau = np.full(n, DT / (1 - 0.9))
    nodes = {"input": nir.Input(input_type=np.array([n_in])),
             "fc": nir.Affine(weight=rng.normal(size=(n, n_in)), bias=np.zeros(n)),
             "lif": nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=np.full(n, 0.5),
                            v_reset=np.zeros(n)),
             "w": nir.Linear(weight=rng.normal(size=(n, n)) * 0.3),
             "out": nir.Output(output_type=np.array([n]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "w"), ("w", "lif"),
                                             ("lif", "out")])
    imported = from_nir(graph)
    assert isinstance(imported.nodes["lif"], neurosim.RLIF)  # the flat loop became a recurrent layer
    with torch.no_grad():
        imported.nodes["fc"].weight.mul_(1.5)  # "fine-tuning"
    x = torch.rand(40, 3, n_in) * 2
    again = to_nir(imported, x)
    assert {"input", "fc", "lif", "out"} <= set(again.nodes)
    twice = from_nir(_through_file(again, tmp_path)[0])
    with torch.no_grad():
        expected = imported(x)
        assert expected.sum() > 0
        assert torch.equal(expected, twice(x))


def test_parameter_shapes_must_agree_along_edges():
    n = 3
    nodes = {"input": nir.Input(input_type=np.array([2])), "fc": nir.Affine(weight=np.ones((4, 2)), bias=np.zeros(4)),
             "lif": nir.LIF(tau=np.full(n, 1e-3), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
                            v_reset=np.zeros(n)),
             "output": nir.Output(output_type=np.array([n]))}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(ValueError, match="'fc'.*gives 4 values.*'lif' takes 3"):
        from_nir(graph)
