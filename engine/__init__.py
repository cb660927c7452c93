"""The PyTorch engine: models, the training loop, checkpoints, evaluation and prediction, as
plain functions. No Django and no Celery: a task hands in a config and data, and gets its
progress through callbacks.

This file imports nothing, so the torch-free parts (``engine.config``, ``engine.metrics``)
can be read by the web process, which never imports torch:

    config        presets, TrainConfig, Inference (no torch)
    metrics       a report's figures from labels and logits (numpy)
    hardware      device, precision, threads
    model         the architectures
    inference     images in, logits out, with a checkpoint's own normalisation and TTA
    checkpoints   saving, loading (weights_only) and verifying checkpoint files
    training      data on tensors, the schedule, one epoch, a whole run
    evaluation    a checkpoint scored on an evaluation set
    prediction    a checkpoint ready to predict batches of photos
"""
