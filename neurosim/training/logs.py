"""Epoch logs: a CSV file always, TensorBoard event files when ``tensorboard`` is installed."""

from __future__ import annotations

import csv
import os
from typing import Dict, List, Optional


class EpochLogger:
    """Writes one row per epoch to ``<log_dir>/metrics.csv`` and mirrors the numbers to
    TensorBoard when it is installed and ``tensorboard`` is true.

    ``history``: the rows of the epochs already done (a resumed run's, restored from its
    checkpoint): the file is rewritten to hold them before the new rows, so a resumed run's log
    continues without the rows of a previous attempt past the checkpoint. Without it, an existing
    file is appended to. A row with columns the file lacks (a resumed run that adds diagnostics)
    rewrites the file with the wider header, earlier rows leaving those columns empty."""

    def __init__(self, log_dir: str, tensorboard: bool = True, history: Optional[List[Dict]] = None):
        os.makedirs(log_dir, exist_ok=True)
        self.csv_path = os.path.join(log_dir, "metrics.csv")
        self.columns: Optional[List[str]] = None
        self.rows: Optional[List[Dict]] = None  # every row of the file, when it is known
        if history is not None:
            self.rows = [dict(r) for r in history]
            self._rewrite()
        elif os.path.isfile(self.csv_path):  # continue the existing log
            with open(self.csv_path, newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or []) or None
                self.rows = list(reader)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional: CSV alone when tensorboard is not installed
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(log_dir=log_dir)

    def _rewrite(self) -> None:
        columns: List[str] = list(self.columns or [])
        for row in self.rows or []:
            columns += [k for k in row if k not in columns]
        self.columns = columns or None
        with open(self.csv_path, "w", newline="") as f:
            if self.columns:
                csv.writer(f).writerow(self.columns)
                for row in self.rows:
                    csv.writer(f).writerow([row.get(c, "") for c in self.columns])

    def log(self, row: Dict[str, float]) -> None:
        if self.rows is None:
            self.rows = []
        self.rows.append(dict(row))
        if self.columns is None or any(k not in self.columns for k in row):
            self._rewrite()
        else:
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
