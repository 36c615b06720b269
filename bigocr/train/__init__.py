"""Training CRAFT for document scans: synthetic data, OHEM loss, resumable checkpoints."""

from bigocr.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from bigocr.train.loop import TrainConfig, export, train
from bigocr.train.loss import craft_loss, ohem_mse

__all__ = ["TrainConfig", "train", "export", "craft_loss", "ohem_mse", "save_checkpoint", "load_checkpoint",
           "latest_checkpoint"]
