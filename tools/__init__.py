"""Measurement scripts, beside the app rather than inside it: the benchmark against the
notebook (``python -m tools.bench``), the real-photo gap (``python -m tools.photo_gap``) and the
fine-tune's effect on it (``python -m tools.finetune_gap``). They use the engine and the
dataset code as the app does, and never Django."""
