"""Keras training of a model whose loss has named parts (`loss_terms`): each part logged."""

import tensorflow as tf

from tfflows.models.keras_training import KerasTraining


class TermsTraining(KerasTraining):
    """`KerasTraining` for a model with `loss_terms(x, c, seed)` -> {part: [N], "loss": [N]}
    and a Mean tracker per logged part in `self.term_trackers`: `fit` and `evaluate` log
    each part's mean next to `nll` (the "loss" part) and `bits_per_dim`.

    `evaluate` scores the part named by `evaluation_term` ("loss" unless a subclass says
    otherwise).
    """

    @property
    def metrics(self):
        return [self.nll_tracker, self.bpd_tracker, *self.term_trackers.values()]

    evaluation_term = "loss"

    def _fit_gradients(self, data):
        x, c = self._unpack(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, c, seed=self._step_seed())
            loss = tf.reduce_mean(terms["loss"])
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        return loss, terms, tape.gradient(scaled, self._trained_variables())

    def _fit_logs(self, terms):
        return self._logs(terms)

    def test_step(self, data):
        x, c = self._unpack(data)
        terms = self.loss_terms(x, c, seed=tf.constant([0, 0]))
        return self._logs(terms, terms[self.evaluation_term])

    def _logs(self, terms, score=None):
        for name, tracker in self.term_trackers.items():
            tracker.update_state(terms[name])
        logs = self._update_metrics(terms["loss"] if score is None else score)
        logs.update({name: t.result() for name, t in self.term_trackers.items()})
        return logs
