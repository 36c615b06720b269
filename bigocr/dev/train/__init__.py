"""Training CRAFT for document scans: synthetic data, OHEM loss, resumable checkpoints."""

from bigocr.dev.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from bigocr.dev.train.loop import TrainConfig, export, train
from bigocr.dev.train.loss import craft_loss, ohem_mse

__all__ = ["TrainConfig", "train", "export", "craft_loss", "ohem_mse", "save_checkpoint", "load_checkpoint",
           "latest_checkpoint"]
