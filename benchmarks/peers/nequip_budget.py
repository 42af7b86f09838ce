"""Lightning callback giving nequip-train the benchmark's training-time budget.

The clock (common.TrainClock) counts the epoch loop's wall-clock from the first training step,
validation included, as for seimlip and MACE. When the budget is spent the trainer is asked to
stop; Lightning then validates that last (partial) epoch, the ModelCheckpoint keeps the best
model and training ends. Referenced from the generated nequip config as
``_target_: nequip_budget.TrainTimeBudget`` (benchmarks/peers is on PYTHONPATH).
"""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from common import TrainClock


class TrainTimeBudget(Callback):
    def __init__(self, minutes: float, report: str | None = None):
        self.clock = TrainClock(minutes)
        self.report = report
        self.epochs = 0
        self.steps = 0

    def on_train_epoch_start(self, trainer, pl_module):
        self.epochs += 1
        self.clock.start()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps += 1
        if self.clock.exhausted:
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer, pl_module):
        self._write()

    def on_train_end(self, trainer, pl_module):
        self.clock.tick()
        self._write()

    def _write(self):
        if self.report:
            Path(self.report).write_text(json.dumps(
                {"train_time_s": self.clock.spent, "epochs": self.epochs, "steps": self.steps}))
