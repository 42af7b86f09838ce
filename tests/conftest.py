import os

# Two cores are shared by everything in CI: keep each test process single-threaded unless a
# test asks otherwise, and keep wandb strictly offline.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
