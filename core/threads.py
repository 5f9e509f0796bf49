"""Pin the frameworks' thread pools: one intra-op pool of `threads`, one inter-op thread.

Both frameworks fix some pool sizes at their first parallel op (TF both pools, torch the inter-op
one), so a call in a process that already ran work keeps what is in effect; each function returns
what the framework reports back, which is what gets recorded.
"""

from __future__ import annotations


def set_torch_threads(threads: int) -> int:
    """torch intra-op threads = `threads`, inter-op = 1 (only before any parallel work); returns the
    intra-op count torch reports."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already started in this process (in-process runs): keep going
        pass
    return torch.get_num_threads()


def set_tf_threads(threads: int) -> tuple[int, int]:
    """TensorFlow intra-op = `threads`, inter-op = 1 (only before its first op); returns the
    (intra, inter) sizes in effect (0 means TF's own default)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised: its pools stay as they are
        pass
    return (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads())
