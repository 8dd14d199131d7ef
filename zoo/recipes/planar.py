"""Trains and publishes planar_u1 ... planar_u4: 32 planar layers fitted by variational
inference to the energies U1-U4 of Rezende & Mohamed (2015, Figure 3).

    python zoo/recipes/planar.py --out runs [--steps 10000]

Each fit: `tfflows.training.fit_vi` (annealed free energy, Adam 5e-3 with cosine decay, batch 256,
seed 0); then KL(q || p) = E_q[log q + U] + log Z from 100,000 samples (seed 1), log Z
integrated on a grid. Writes runs/planar_uN/ and zoo/planar_uN/ (preset, card, picture).
"""

import argparse
import json
import pathlib
import time

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfflows import models, plotting  # noqa: E402
from tfflows.data import energies  # noqa: E402
from tfflows.models.registry import model_config  # noqa: E402
from tfflows.training import fit_vi, kl_divergence  # noqa: E402
from tfflows.zoo.publish import publish  # noqa: E402

LAYERS, EXTENT = 32, 4.0
ZOO_DIR = pathlib.Path(__file__).resolve().parents[1]  # this recipe's zoo folder


def picture(model, energy, log_z, path):
    target = plotting.density_grid(lambda p: -energy(p).numpy() - log_z, EXTENT, 200)
    z = model.sample(100_000, seed=2).numpy()
    hist, _, _ = np.histogram2d(z[:, 1], z[:, 0], bins=200, range=[[-EXTENT, EXTENT]] * 2)
    fig, ax = plt.subplots(1, 2, figsize=(6, 3))
    for a, img, title in ((ax[0], target, "target exp(-U) / Z"), (ax[1], hist, "samples of q")):
        a.imshow(img, origin="lower", extent=[-EXTENT, EXTENT] * 2, cmap="magma")
        a.set_title(title, fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


CARD_ROWS = [
    "| model | `PlanarFlow(2, num_layers={layers})` over a standard normal: {params} parameters |",
    "| target | exp(-{upper}(z)) of Rezende & Mohamed (2015, Figure 3; "
    "`tfflows.data.energies.{key}`), log Z = {log_z:.4f} integrated on a grid |",
    "| training | `{train}`: `tfflows.training.fit_vi`, reverse KL with beta annealed from 0.01 "
    "to 1 over 2,000 steps, Adam 5e-3 with cosine decay, batch 256, {steps:,} steps, seed 0; "
    "{seconds:.0f} s on the 2-core CPU |",
    "| result | **KL(q &#124;&#124; p) = {kl:.4f} nats**, from 100,000 samples of q (seed 1) |",
    "| weights | `model.weights.h5`, sha256 in `preset.json` |",
    "| license | weights Apache-2.0; no data (an analytic target) |",
]
CARD = "\n".join(
    [
        "# {name}: planar flow posterior for {upper}",
        "",
        "![target and samples](density.png)",
        "",
        "| | |",
        "|---|---|",
        *CARD_ROWS,
        "",
        "The paper's Figure 3 shows K = 2, 8 and 32; `examples/planar_vi.py` measures all three.",
        "",
    ]
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--energies", nargs="+", default=list(energies.ENERGIES))
    args = parser.parse_args()
    for key in args.energies:
        name, energy = f"planar_{key}", energies.ENERGIES[key]
        log_z = energies.log_normalizer(energy)
        keras.utils.set_random_seed(0)  # the initial weights too, not only the fit
        model = models.PlanarFlow(2, num_layers=LAYERS)
        start = time.perf_counter()
        fit_vi(model, energy, steps=args.steps, seed=0, progress=False)
        seconds = time.perf_counter() - start
        kl = kl_divergence(model, energy, log_z)
        run = pathlib.Path(args.out) / name
        run.mkdir(parents=True, exist_ok=True)
        (run / "model.json").write_text(json.dumps(model_config(model), indent=2))
        model.save_weights(run / "model.weights.h5")
        train = (
            f"python zoo/recipes/planar.py --out {args.out} --steps {args.steps} --energies {key}"
        )
        metrics = {"kl_nats": round(kl, 4), "log_z": round(log_z, 4), "steps": args.steps}
        target = publish(
            run,
            name,
            f"{LAYERS} planar layers fitted by variational inference to {key.upper()}",
            f"no data: the analytic energy {key.upper()} (tfflows.data.energies.{key})",
            "weights Apache-2.0",
            {"train": train, "eval": "tfflows.training.kl_divergence(model, energy, log_Z)"},
            "normal",
            {**metrics, "seconds_trained": round(seconds, 1)},
            zoo_dir=ZOO_DIR,
        )
        picture(model, energy, log_z, target / "density.png")
        (target / "README.md").write_text(
            CARD.format(
                name=name,
                upper=key.upper(),
                key=key,
                layers=LAYERS,
                params=model.count_params(),
                log_z=log_z,
                train=train,
                steps=args.steps,
                seconds=seconds,
                kl=kl,
            )
        )
        print(json.dumps({"preset": name, **metrics, "seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
