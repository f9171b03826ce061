"""Worker for tests/test_distributed.py, launched by torchrun: one training step of a small
spiking MLP with DistributedDataParallel, each process on its half of a global batch of 8.
Rank 0 saves the parameters to the path given as the first argument."""

import sys

import torch
from ddp_reference import GLOBAL_BATCH, LR, build, dataset  # noqa: E402  (beside this file)

from neurosim.training import Trainer, init_distributed, make_encoder
from neurosim.training.distributed import shutdown

context = init_distributed("cpu")
assert context.world_size == 2, context
model = build()
trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=LR), encoder=make_encoder("direct", 10),
                  batch_size=GLOBAL_BATCH // context.world_size, shuffle=False, progress=False, device="cpu")
trainer.fit(dataset(), epochs=1)
assert trainer.history[0]["train_accuracy"] >= 0  # metrics were reduced over both processes
if context.is_main:
    torch.save({k: v.detach().clone() for k, v in trainer.module.state_dict().items()}, sys.argv[1])
trainer.close()
try:
    trainer.train_step(*next(iter(torch.utils.data.DataLoader(dataset(), batch_size=2))))
    raise AssertionError("a closed distributed Trainer trained without its DDP wrapper")
except RuntimeError as e:
    assert "closed" in str(e), e
shutdown()  # the library's own teardown (the CLI's), not a copy of it
