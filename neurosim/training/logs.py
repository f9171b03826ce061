"""Epoch logs: a CSV file always, TensorBoard event files when ``tensorboard`` is installed."""

from __future__ import annotations

import csv
import os
from typing import Dict, List, Optional


class EpochLogger:
    """Appends one row per epoch to ``<log_dir>/metrics.csv`` (columns fixed by the first row)
    and mirrors the numbers to TensorBoard when it is installed and ``tensorboard`` is true."""

    def __init__(self, log_dir: str, tensorboard: bool = True):
        os.makedirs(log_dir, exist_ok=True)
        self.csv_path = os.path.join(log_dir, "metrics.csv")
        self.columns: Optional[List[str]] = None
        if os.path.isfile(self.csv_path):  # a resumed run continues its log
            with open(self.csv_path, newline="") as f:
                header = next(csv.reader(f), None)
            self.columns = header or None
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: CSV alone when tensorboard is not installed
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(log_dir=log_dir)

    def log(self, row: Dict[str, float]) -> None:
        if self.columns is None:
            self.columns = list(row)
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, int(row["epoch"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
