"""Time-distributed layers (against per-step loops and folded batch norm), the conv and
recurrent models, and their bad-input errors."""

import pytest
import torch
from torch import nn

import neurosim
from neurosim import layers as td
from neurosim.models import RecurrentSNN, SpikingConvNet, SpikingMLP, parameter_count

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: torch on one thread


def test_conv_lif_equals_a_per_step_loop():
    torch.manual_seed(0)
    x = torch.rand(7, 3, 2, 12, 12)
    conv, pool = td.Conv2d(2, 4, 3, padding=1), td.MaxPool2d(2)
    lif = neurosim.LIF(beta=0.8, backend="torch")
    out = pool(lif(conv(x)))
    plain = nn.Conv2d(2, 4, 3, padding=1)
    plain.load_state_dict(conv.state_dict())  # same parameters and keys as the torch layer
    currents = torch.stack([plain(x[t]) for t in range(7)])
    u = torch.zeros(3, 4, 12, 12)
    steps = []
    for t in range(7):  # snnTorch Leaky, subtract reset, step by step
        r = (u > 1.0).float()
        u = 0.8 * u + currents[t] - r * 1.0
        steps.append(nn.functional.max_pool2d((u > 1.0).float(), 2))
    torch.testing.assert_close(out, torch.stack(steps), rtol=1e-6, atol=1e-6)
    assert 0.0 < out.mean() < 1.0


@pytest.mark.parametrize("layer,plain,shape", [
    (td.Conv1d(3, 5, 3), nn.Conv1d(3, 5, 3), (4, 2, 3, 9)),
    (td.AvgPool2d(2), nn.AvgPool2d(2), (4, 2, 3, 6, 6)),
    (td.TimeDistributed(nn.Conv2d(3, 2, 1)), None, (4, 2, 3, 5, 5)),
])
def test_layers_match_per_step(layer, plain, shape):
    x = torch.randn(shape)
    if plain is None:
        plain = layer.module
    elif list(plain.parameters()):
        plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x), torch.stack([plain(x_t) for x_t in x]))


@pytest.mark.parametrize("bn,plain,shape", [
    (td.BatchNorm2d(3), nn.BatchNorm2d(3), (5, 4, 3, 6, 6)),
    (td.BatchNorm1d(3), nn.BatchNorm1d(3), (5, 4, 3)),
    (td.BatchNorm1d(3), nn.BatchNorm1d(3), (5, 4, 3, 7)),
])
def test_batch_norm_statistics_span_time_and_batch(bn, plain, shape):
    x = torch.randn(shape) * 2 + 1
    y = bn(x)
    ref = plain(x.flatten(0, 1)).unflatten(0, shape[:2])
    torch.testing.assert_close(y, ref)
    torch.testing.assert_close(bn.running_mean, plain.running_mean)
    torch.testing.assert_close(bn.running_var, plain.running_var)
    dims = [0, 1] + list(range(3, len(shape)))
    torch.testing.assert_close(y.mean(dims), torch.zeros(3), atol=1e-5, rtol=0)  # over T and B jointly
    bn.eval()
    plain.eval()
    torch.testing.assert_close(bn(x), plain(x.flatten(0, 1)).unflatten(0, shape[:2]))


def test_dropout_has_one_mask_per_sequence():
    torch.manual_seed(0)
    drop = td.Dropout(0.4)
    y = drop(torch.ones(6, 50, 20))
    kept = y[0] != 0
    assert torch.equal(y != 0, kept.expand_as(y))  # the same mask at every step
    assert torch.allclose(y[y != 0], torch.tensor(1 / 0.6))
    assert 0.45 < kept.float().mean() < 0.75
    drop.eval()
    x = torch.randn(3, 2, 4)
    assert torch.equal(drop(x), x)
    with pytest.raises(ValueError, match="p: expected a probability"):
        td.Dropout(1.0)


def test_flatten_and_layer_errors():
    assert td.Flatten()(torch.zeros(3, 2, 4, 5, 6)).shape == (3, 2, 120)
    with pytest.raises(ValueError, match=r"Conv2d: expected a time-major input \[T, B, C, H, W\]"):
        td.Conv2d(2, 2, 3)(torch.zeros(2, 2, 8, 8))
    with pytest.raises(TypeError, match="module"):
        td.TimeDistributed("conv")


def test_conv_net_shapes_state_and_errors():
    torch.manual_seed(0)
    net = SpikingConvNet((2, 16, 16), 5, channels=(4, 8), kernel_size=3, dropout=0.1)
    x = (torch.rand(6, 3, 2, 16, 16) < 0.2).float()
    out = net(x)
    assert out.shape == (6, 3, 5) and net.default_loss == "ce_mean"
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.eval()
    whole = net(x)
    first, state = net(x[:2], return_state=True)
    second, _ = net(x[2:], state=state, return_state=True)
    torch.testing.assert_close(torch.cat([first, second]), whole)
    with pytest.raises(ValueError, match="not 1-D data such as SHD"):
        net(torch.rand(6, 3, 70))
    with pytest.raises(ValueError, match="too small"):
        SpikingConvNet((2, 4, 4), 5, channels=(4, 4, 4))


@pytest.mark.parametrize("neuron", ["lif", "synaptic", "alif"])
def test_recurrent_net_runs_every_recurrent_cell(neuron):
    net = RecurrentSNN(10, 3, hidden=(12, 8), neuron=neuron)
    x = (torch.rand(15, 4, 10) < 0.3).float()
    out = net(x)
    assert out.shape == (15, 4, 3)
    out.sum().backward()
    assert net.layers[1].recurrent.weight.grad is not None
    whole = net(x)
    first, state = net(x[:5], return_state=True)
    second, _ = net(x[5:], state=state, return_state=True)
    torch.testing.assert_close(torch.cat([first, second]), whole)


def test_recurrent_net_options_and_errors():
    ff = RecurrentSNN(10, 3, hidden=(12,), neuron="lif", recurrent=False, readout="spikes")
    assert isinstance(ff.layers[1], neurosim.LIF) and ff.default_loss == "ce_count"
    rec = RecurrentSNN(10, 3, hidden=(12,), neuron="lif")
    assert parameter_count(rec) == parameter_count(ff) + 12 * 12 + 12  # + the recurrent weights and bias
    with pytest.raises(ValueError, match="has no recurrent layer"):
        RecurrentSNN(10, 3, neuron="ultralif")
    with pytest.raises(ValueError, match=r"expects \[T, B, 10\]"):
        rec(torch.zeros(5, 2, 11))


def test_trainer_learns_with_the_conv_model():
    """A toy two-class image task (a bar at the left or right, anywhere vertically) is learned."""
    from neurosim.training import Trainer

    g = torch.Generator().manual_seed(0)
    xs, ys = [], []
    for i in range(64):
        img = torch.zeros(8, 1, 10, 10)
        col = 1 if i % 2 == 0 else 8
        row = int(torch.randint(0, 6, (1,), generator=g))
        img[:, 0, row:row + 4, col] = (torch.rand(8, 4, generator=g) < 0.8).float()
        xs.append(img)
        ys.append(i % 2)
    data = torch.utils.data.TensorDataset(torch.stack(xs), torch.tensor(ys))

    def collate(batch):
        return torch.stack([b[0] for b in batch], 1), torch.tensor([int(b[1]) for b in batch])

    torch.manual_seed(0)
    net = SpikingConvNet((1, 10, 10), 2, channels=(4,), kernel_size=3)
    trainer = Trainer(net, torch.optim.Adam(net.parameters(), 1e-2), loss=net.default_loss, batch_size=16,
                      collate_fn=collate, progress=False, seed=0)
    trainer.fit(data, epochs=6)
    assert trainer.evaluate(data)["accuracy"] > 0.9


def test_mlp_is_unchanged_by_the_stack_helpers():
    net = SpikingMLP([4, 6, 2])
    assert net(torch.rand(3, 2, 4)).shape == (3, 2, 2)


def _li_membrane(x, beta=0.9):
    u, out = torch.zeros_like(x[0]), []
    for x_t in x:
        u = beta * u + x_t
        out.append(u)
    return torch.stack(out)


def test_li_works_as_a_hidden_layer_in_every_model():
    """LI returns LIResult(output, state), not .spikes: the models pass its membrane on."""
    torch.manual_seed(0)
    x = torch.rand(6, 3, 4)
    mlp = SpikingMLP([4, 5, 2], neuron="li")
    expected = _li_membrane(mlp.linears[1](_li_membrane(mlp.linears[0](x))))
    torch.testing.assert_close(mlp(x), expected)
    first, state = mlp(x[:2], return_state=True)
    second, _ = mlp(x[2:], state=state, return_state=True)
    torch.testing.assert_close(torch.cat([first, second]), expected)
    ff = RecurrentSNN(4, 2, hidden=(5,), neuron="li", recurrent=False)
    assert ff(x).shape == (6, 3, 2)
    first, state = ff(x[:2], return_state=True)
    second, _ = ff(x[2:], state=state, return_state=True)
    torch.testing.assert_close(torch.cat([first, second]), ff(x))
    conv = SpikingConvNet((2, 8, 8), 3, channels=(4,), kernel_size=3, neuron="li").eval()
    frames = torch.rand(5, 2, 2, 8, 8)
    assert conv(frames).shape == (5, 2, 3)
    first, state = conv(frames[:2], return_state=True)
    second, _ = conv(frames[2:], state=state, return_state=True)
    torch.testing.assert_close(torch.cat([first, second]), conv(frames))


@pytest.mark.parametrize("pool_size", [0, -1, 1.5, True])
def test_conv_net_refuses_bad_pool_sizes(pool_size):
    with pytest.raises(ValueError, match="pool_size"):
        SpikingConvNet((2, 8, 8), 3, channels=(4,), pool_size=pool_size)
    assert len(SpikingConvNet((2, 8, 8), 3, channels=(4,), pool_size=1).layers) == 6  # 1: no pooling


def test_dropout_keeps_its_mask_across_chunks_of_a_sequence():
    drop = td.Dropout(0.5, return_state=True)
    first = drop(torch.ones(3, 4, 6))
    again = drop(torch.ones(2, 4, 6), first.state)
    assert torch.equal(again.output[0], first.output[0])  # the chunk continues with the same mask
    assert drop(torch.ones(2, 4, 6)).state.shape == (1, 4, 6)  # None: a new sequence, a new mask
    with pytest.raises(ValueError, match="state: expected the dropout mask"):
        drop(torch.ones(2, 5, 6), first.state)
    assert drop.eval()(torch.ones(2, 4, 6), first.state).state is None


@pytest.mark.parametrize("make", [lambda: RecurrentSNN(10, 3, hidden=(12,), neuron="lif", dropout=0.5),
                                  lambda: SpikingConvNet((2, 8, 8), 3, channels=(4,), kernel_size=3, dropout=0.5,
                                                         batch_norm=False)])  # BN statistics are per chunk
def test_models_keep_one_dropout_mask_under_truncated_bptt(make):
    torch.manual_seed(0)
    net = make().train()
    x = (torch.rand(8, 4, *((10,) if isinstance(net, RecurrentSNN) else (2, 8, 8))) < 0.5).float()
    torch.manual_seed(1)
    whole = net(x)
    torch.manual_seed(1)
    first, state = net(x[:3], return_state=True)
    second, _ = net(x[3:], state=state, return_state=True)
    torch.testing.assert_close(torch.cat([first, second]), whole)


@pytest.mark.parametrize("layer,features", [
    (lambda: td.Conv2d(2, 3, 3), (2, 6, 6)), (lambda: td.Conv1d(2, 3, 3), (2, 6)),
    (lambda: td.AvgPool2d(2), (2, 4, 4)), (lambda: td.MaxPool2d(2), (2, 4, 4)),
    (lambda: td.BatchNorm1d(2), (2,)), (lambda: td.BatchNorm2d(2), (2, 4, 4)),
    (lambda: td.TimeDistributed(nn.Linear(2, 3)), (2,)), (lambda: td.Flatten(), (2, 3)),
    (lambda: td.Dropout(0.5), (2,))])
def test_time_folded_layers_refuse_an_empty_time_axis(layer, features):
    with pytest.raises(ValueError, match=r"x: the time axis is empty \(T=0\)"):
        layer()(torch.zeros(0, 3, *features))
    out = layer()(torch.zeros(1, 3, *features))  # one step works, and keeps T and B
    assert out.shape[:2] == (1, 3)


def test_unfold_time_checks_its_steps():
    y = torch.zeros(6, 4)
    assert td.unfold_time(y, 3).shape == (3, 2, 4)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="steps"):
            td.unfold_time(y, bad)
    with pytest.raises(ValueError, match="y: its first axis"):
        td.unfold_time(y, 4)


@pytest.mark.parametrize("make,x", [
    (lambda: SpikingMLP([7, 8, 3]), torch.rand(4, 2, 7)),
    (lambda: RecurrentSNN(7, 3, hidden=[8]), torch.rand(4, 2, 7)),
    (lambda: SpikingConvNet((2, 8, 8), 3, channels=(4,), dropout=0.2), torch.rand(4, 2, 2, 8, 8))])
def test_models_check_state_length_and_input_dtype(make, x):
    model = make().eval()
    out, state = model(x, return_state=True)
    # the right state list continues the sequence: two chunks equal one call (eval mode)
    first, mid = model(x[:2], return_state=True)
    second = model(x[2:], mid)
    torch.testing.assert_close(torch.cat([first, second]), out)
    for bad in ([None], state + state[:1], state[:-1]):
        with pytest.raises(ValueError, match=rf"state: expected {len(state)} entries"):
            model(x, bad)
    with pytest.raises(TypeError, match="state: expected None or the list"):
        model(x, state[0])
    with pytest.raises(TypeError, match=r"x: has dtype torch.float64 but .*torch.float32"):
        model(x.double())
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        model(x.tolist())
    with pytest.raises(TypeError, match="return_state"):
        model(x, return_state=1)
    torch.testing.assert_close(model.double()(x.double()), out.double())  # matching dtypes run


def test_conv_net_chunks_agree_with_one_call_except_batch_norm_in_training():
    """What the docstring says: truncated-BPTT chunks equal one call in eval mode or without batch
    norm, and differ with batch norm in training (statistics over each chunk's time x batch)."""
    x = (torch.rand(6, 2, 2, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).float()

    def chunked_and_whole(model):
        torch.manual_seed(0)
        whole = model(x)
        first, state = model(x[:3], return_state=True)
        return torch.cat([first, model(x[3:], state)]), whole

    for batch_norm, train in ((True, False), (False, True), (False, False)):
        torch.manual_seed(1)
        model = SpikingConvNet((2, 8, 8), 3, channels=(4,), batch_norm=batch_norm).train(train)
        chunked, whole = chunked_and_whole(model)
        torch.testing.assert_close(chunked, whole)
    torch.manual_seed(1)
    model = SpikingConvNet((2, 8, 8), 3, channels=(4,), batch_norm=True).train()
    chunked, whole = chunked_and_whole(model)
    assert not torch.allclose(chunked, whole)
    assert "truncated-BPTT" in SpikingConvNet.__doc__ and "eval mode" in SpikingConvNet.__doc__
