"""One optimisation step under a `tf.distribute` strategy, in two compiled halves.

On every replica r of R (in sync):

    x_r = rows [r b, (r + 1) b) of the global batch          (b = B / R)
    loss_r = sum(model.nll(x_r, with the noise those rows get in the whole batch)) / B
    g_r = d loss_r / d theta                                   (XLA-compiled, optionally)
    sum_r loss_r = the global mean NLL, sum_r g_r its gradient  (Adam sums the g_r)

`gradients` returns the loss, the count of non-finite gradient entries and the gradient
norm to the host before `apply` updates the weights (and their average), so a non-finite
loss can stop a run with the weights of the step before.
"""

import tensorflow as tf


def gradient_function(model, strategy, global_batch, clip_norm=None, xla=False):
    """grad_step(x, c, seed) -> (loss, bad, norm, per-replica gradients)."""
    variables = model.trainable_variables
    replicas = strategy.num_replicas_in_sync

    def loss_and_grads(x, c, seed, offset):
        with tf.GradientTape() as tape:
            nll = model.nll(x, c, seed=seed, offset=offset, global_batch=global_batch)
            loss = tf.reduce_sum(nll) / global_batch
        grads = tape.gradient(loss, variables)
        bad = tf.add_n([tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32)) for g in grads])
        return loss, grads, bad

    if xla:
        loss_and_grads = tf.function(loss_and_grads, jit_compile=True, autograph=False)

    def replica_step(x, c, seed):
        ctx = tf.distribute.get_replica_context()
        offset = ctx.replica_id_in_sync_group * tf.shape(x)[0]
        loss, grads, bad = loss_and_grads(x, c, seed, offset)
        norm = tf.constant(0.0)
        if clip_norm is not None:
            # Clip the norm of the *summed* gradient: reduce here, clip, and hand Adam
            # 1/R of it (Adam sums the replicas' gradients again).
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            grads, norm = tf.clip_by_global_norm(grads, clip_norm)
            grads = [g / replicas for g in grads]
        loss, bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [loss, bad])
        return loss, bad, norm, grads

    @tf.function(autograph=False)
    def grad_step(x, c, seed):
        loss, bad, norm, grads = strategy.run(replica_step, args=(x, c, seed))
        first = strategy.experimental_local_results
        return first(loss)[0], first(bad)[0], first(norm)[0], grads

    return grad_step


def apply_function(model, strategy, optimizer, average=None):
    """apply_step(grads): the optimizer's update, then the weights' average (if any)."""
    variables = model.trainable_variables
    # A model whose loss follows the number of updates (the VAE's KL warm-up) counts them
    # in a variable of its own, saved with its weights and checkpoints.
    count_update = getattr(model, "count_update", None)

    def replica_apply(grads):
        # tf.identity places each gradient on this replica's device: function inputs
        # have none, and MultiWorkerMirroredStrategy's all-reduce needs one
        # ("destinations can not be empty").
        optimizer.apply([tf.identity(g) for g in grads], variables)
        if count_update is not None:
            count_update()
        if average is not None:
            average.update()

    @tf.function(autograph=False)
    def apply_step(grads):
        strategy.run(replica_apply, args=(grads,))

    return apply_step


def distribute(strategy, value):
    """A host array of the global batch as per-replica rows (None stays None)."""
    if value is None:
        return None
    per = len(value) // strategy.num_replicas_in_sync

    def part(ctx):
        r = ctx.replica_id_in_sync_group
        return tf.convert_to_tensor(value[r * per : (r + 1) * per])

    return strategy.experimental_distribute_values_from_function(part)
