"""Pictures: image grids (Pillow) and 2-D densities (matplotlib)."""

import pathlib

import numpy as np


def image_grid(images, columns=8, padding=2, background=255):
    """uint8 images [N, H, W, C] (C = 1 or 3) -> one PIL image, `columns` per row."""
    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"image_grid takes uint8 [N, H, W, 1 or 3], got {images.dtype} {images.shape}"
        )
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c), background, np.uint8
    )
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[top : top + h, left : left + w] = image
    return Image.fromarray(grid[..., 0] if c == 1 else grid)


def save_image_grid(images, path, columns=8, scale=1):
    """Writes `image_grid(images, columns)` to `path` (PNG), enlarged `scale` times."""
    from PIL import Image

    grid = image_grid(images, columns)
    if scale != 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


def density_grid(log_prob_fn, extent, size=300):
    """exp(log_prob) on a size x size grid over [-extent, extent]^2 (rows = y)."""
    axis = np.linspace(-extent, extent, size, dtype=np.float32)
    points = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    return np.exp(np.asarray(log_prob_fn(points))).reshape(size, size)
