"""Planar flows fitted by variational inference to the energies U1..U4 of Rezende & Mohamed
(2015, Figure 3: K = 2, 8, 32 planar layers), with KL(q || p) measured against log Z
integrated on a grid.

    python examples/planar_vi.py --steps 10000 --out out/planar_vi

Writes `kl.json`, `kl.md` (the table) and `planar_vi.png` (target densities beside samples
of each fitted flow).
"""

import argparse
import json
import pathlib
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfflows import models, plotting  # noqa: E402
from tfflows.data import energies  # noqa: E402
from tfflows.training import fit_vi, kl_divergence  # noqa: E402

EXTENT = 4.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--out", default="out/planar_vi")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    names = list(energies.ENERGIES)
    fig, axes = plt.subplots(
        len(names), 1 + len(args.layers), figsize=(2.6 * (1 + len(args.layers)), 2.6 * len(names))
    )
    table, rows = {}, []
    for r, name in enumerate(names):
        energy = energies.ENERGIES[name]
        log_z = energies.log_normalizer(energy)
        target = plotting.density_grid(
            lambda p, e=energy, lz=log_z: -e(p).numpy() - lz, EXTENT, 200
        )
        axes[r, 0].imshow(target, origin="lower", extent=[-EXTENT, EXTENT] * 2, cmap="magma")
        axes[r, 0].set_ylabel(name.upper())
        table[name] = {"log_z": round(log_z, 4)}
        for c, k in enumerate(args.layers, start=1):
            model = models.PlanarFlow(2, num_layers=k)
            start = time.perf_counter()
            fit_vi(model, energy, steps=args.steps, seed=args.seed)
            kl = kl_divergence(model, energy, log_z)
            table[name][f"K={k}"] = round(kl, 4)
            print(
                f"{name} K={k}: KL(q||p) = {kl:.4f} nats ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            z = model.sample(100_000, seed=2).numpy()
            hist, _, _ = np.histogram2d(z[:, 1], z[:, 0], bins=200, range=[[-EXTENT, EXTENT]] * 2)
            axes[r, c].imshow(hist, origin="lower", extent=[-EXTENT, EXTENT] * 2, cmap="magma")
            axes[r, c].set_title(f"K = {k}, KL {kl:.2f}", fontsize=9)
        rows.append(
            f"| {name.upper()} | "
            + " | ".join(f"{table[name][f'K={k}']:.3f}" for k in args.layers)
            + " |"
        )
    axes[0, 0].set_title("target exp(-U)", fontsize=9)
    for a in axes.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "planar_vi.png", dpi=80)
    header = "| energy | " + " | ".join(f"K = {k}" for k in args.layers) + " |"
    md = "\n".join([header, "|---" * (1 + len(args.layers)) + "|", *rows])
    (out / "kl.md").write_text(md + "\n")
    (out / "kl.json").write_text(json.dumps({"steps": args.steps, "kl_nats": table}, indent=2))
    print(md)


if __name__ == "__main__":
    main()
