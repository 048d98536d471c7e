"""Training behind the ``[train]`` extra: data preparation, the flow-matching and distillation objectives, the
training loop, checkpoints and export. It drives the same modules inference runs (``luxtts.model``); nothing in
inference imports this package."""
