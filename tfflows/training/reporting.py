"""What a run shows and writes: a tqdm progress bar, TensorBoard scalars and sample grids,
PNG grids under `out_dir/samples/`, and the final summary. Only the chief reports."""

import json
import pathlib
import sys

import numpy as np
import tensorflow as tf

from tfflows.training.files import temporary_name

# A video model's epoch picture: predicted futures of this many held-out videos, this many
# samples each (a row per video: its true future first).
VIDEOS_SHOWN, SAMPLES_PER_VIDEO = 4, 3


class _Bar:
    def __init__(self, total, initial, enabled):
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)

    def update_to(self, step, nll, bpd):
        if self._bar is not None:
            self._bar.set_postfix(nll=f"{nll:.4g}", bpd=f"{bpd:.4f}", refresh=False)
            self._bar.update(step - self._bar.n)

    def close(self):
        if self._bar is not None:
            self._bar.close()


class Log:
    def __init__(self, out_dir, chief, progress):
        self.out, self.chief, self.progress_enabled = pathlib.Path(out_dir), chief, progress
        self.writer = None
        if chief:
            self.writer = tf.summary.create_file_writer(str(self.out / "logs"))

    def message(self, text):
        if self.chief:
            print(text, flush=True)

    def warning(self, text):
        """Something the user must know about (on stderr, so it is seen with stdout piped)."""
        if self.chief:
            print(f"warning: {text}", file=sys.stderr, flush=True)

    def progress(self, total, initial):
        return _Bar(total, initial, self.chief and self.progress_enabled)

    def train_scalars(self, step, nll, bpd, learning_rate, grad_norm=None):
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            tf.summary.scalar("train/nll", nll)
            tf.summary.scalar("train/bits_per_dim", bpd)
            tf.summary.scalar("train/learning_rate", learning_rate)
            if grad_norm is not None:
                tf.summary.scalar("train/gradient_norm", grad_norm)

    def test_scalars(self, step, test, split="test"):
        """An evaluation's numbers: printed, and in TensorBoard as `<split>/...`."""
        extra = {k: v for k, v in test.items() if k not in ("examples", "nll", "bits_per_dim")}
        parts = "".join(f", {k} {v:.4g}" for k, v in extra.items())
        self.message(
            f"step {step}: {split} {test['bits_per_dim']:.4f} bits/dim "
            f"({test['nll']:.4g} nats{parts}) on {test['examples']} examples"
        )
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.scalar(f"{split}/bits_per_dim", test["bits_per_dim"])
                tf.summary.scalar(f"{split}/nll", test["nll"])
                for key, value in extra.items():
                    tf.summary.scalar(f"{split}/{key}", value)

    def samples(self, step, model, config, videos=None):
        """A grid of samples at `config.temperature` (seed `config.seed`) for image models;
        for video models (which sample futures of context frames) predicted futures of the
        first held-out `videos` (uint8 [N, T, H, W, C]), a row per video, as a PNG and a GIF."""
        if self.writer is None or config.samples < 1:
            return
        if hasattr(model, "predict_frames"):
            self._video_samples(step, model, config, videos)
            return
        shape = model.data_shape
        if model.num_bits is None or len(shape) != 3 or shape[-1] not in (1, 3):
            return
        if model.condition_shape is not None:
            return
        from tfflows.plotting import image_grid

        images = model.to_uint8(model.sample(config.samples, config.temperature, config.seed))
        images = np.asarray(images)
        columns = int(np.ceil(np.sqrt(len(images))))
        self._write_picture(step, image_grid(images, columns=columns), config)

    def _video_samples(self, step, model, config, videos):
        from tfflows.plotting import save_video_gif, video_strip
        from tfflows.zoo.predictions import context_length, future_grid

        if videos is None or len(videos) == 0 or videos.shape[1] <= context_length(model):
            return  # no held-out videos with frames to predict
        videos = np.asarray(videos[:VIDEOS_SHOWN])
        samples = min(config.samples, SAMPLES_PER_VIDEO)
        grid, columns = future_grid(model, videos, samples, None, config.temperature, config.seed)
        self._write_picture(step, video_strip(grid), config)
        gif = self.out / "samples" / f"step_{step:08d}.gif"
        tmp = temporary_name(gif)
        save_video_gif(grid, tmp, columns=columns, scale=2, fps=2.0)
        tmp.replace(gif)

    def _write_picture(self, step, picture, config):
        """`samples/step_*.png` and the same picture in TensorBoard."""
        path = self.out / "samples" / f"step_{step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(path)
        picture.save(tmp, format="PNG")
        tmp.replace(path)
        grid = np.asarray(picture)
        if grid.ndim == 2:
            grid = grid[..., None]
        with self.writer.as_default(step=step):
            tf.summary.image(f"samples/temperature_{config.temperature:g}", grid[None])

    def summary(self, summary):
        self.message("summary: " + json.dumps(summary))

    def close(self):
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
