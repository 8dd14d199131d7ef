"""What every runner of the benchmarks is: per measure, a callable doing one batch and
waiting for its result. Kept apart from the runners so that a PyTorch worker process
(bench/worker.py) never imports TensorFlow."""


class Runner:
    def __init__(self, library, variant, params, measures, note=""):
        self.library, self.variant, self.params = library, variant, int(params)
        self.measures, self.note = measures, note
