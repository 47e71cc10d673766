"""Untrained checkpoints: a model saved with its run config, all that composing and scoring read, without training."""

from __future__ import annotations

from pathlib import Path

from core.checkpoints import CheckpointFolder, RunConfig
from core.config import TrainConfig
from core.data.datasets import Dataset
from core.models import build_model, input_spec_for, make_config

TINY = {
    "lstm": {"embedding_dim": 8, "units": 16, "layers": 1, "dropout": 0.0},
    "transformer": {"d_model": 16, "heads": 2, "layers": 1, "ff_dim": 16, "dropout": 0.0, "max_length": 16},
}


def untrained_checkpoint(home: Path, dataset: Dataset, model: str, representation: str) -> str:
    """A tiny untrained ``model`` over ``representation`` of ``dataset``, in ``home/checkpoints/<model>-<representation>``."""
    run_id = f"{model}-{representation}"
    config = RunConfig(
        run_id=run_id,
        model=model,
        model_config=make_config(model, TINY[model]),
        train=TrainConfig(seq_len=8, conditioning=False),
        representation=representation,
        dataset=dataset.name,
        dataset_id=dataset.id,
        dataset_hash=dataset.manifest["cache_key"],
        data=dataset.config,
    )
    folder = CheckpointFolder(home / "checkpoints" / run_id)
    folder.path.mkdir(parents=True)
    folder.write_config(config)
    spec = input_spec_for(representation, dataset.config, 16)
    build_model(model, config.model_config, spec).save(folder.model)
    return str(folder.path)
