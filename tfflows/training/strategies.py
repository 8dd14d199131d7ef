"""Choosing a `tf.distribute` strategy by name."""

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multiworker", "tpu")


def make_strategy(name="auto"):
    """A `tf.distribute.Strategy` by name.

    - "auto": `MirroredStrategy` over all visible GPUs when there are two or more, else one
      device (the GPU, or the CPU).
    - "one_device": the first GPU, else the CPU.
    - "mirrored": `MirroredStrategy` over all GPUs, or over all logical CPUs where there is
      no GPU (what tests use: `tf.config.set_logical_device_configuration`).
    - "multiworker": `MultiWorkerMirroredStrategy`; the cluster comes from `TF_CONFIG`.
    - "tpu": `TPUStrategy` on the TPU that `TPUClusterResolver` finds.
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "auto":
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else _one_device(gpus)
    if name == "one_device":
        return _one_device(gpus)
    if name == "mirrored":
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                'strategy "multiworker" reads the cluster from the TF_CONFIG environment '
                "variable, which is not set (see tf.distribute.MultiWorkerMirroredStrategy)"
            )
        json.loads(os.environ["TF_CONFIG"])  # a clear JSON error before TF's own
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError) as error:
        raise ValueError(f'strategy "tpu": no TPU found ({error})') from error
    return tf.distribute.TPUStrategy(resolver)


def _one_device(gpus):
    return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")


def is_chief(strategy):
    """True on the worker that writes checkpoints, logs and pictures."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
    )


def is_single_worker(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    jobs = resolver.cluster_spec().as_dict()
    return sum(len(tasks) for tasks in jobs.values()) <= 1


def worker_index(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return 0 if resolver is None or resolver.task_id is None else int(resolver.task_id)
