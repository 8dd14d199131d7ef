"""The `tfflows` command line."""

import argparse
import os
import sys


def _demo(args):
    from tfflows import demo

    demo.main(out=args.out, num_steps=args.steps, seed=args.seed)


def build_parser():
    parser = argparse.ArgumentParser(prog="tfflows", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit a flow to two moons and plot the density")
    demo.add_argument("--out", default="out/two_moons.png", help="where to write the PNG")
    demo.add_argument("--steps", type=int, default=4000, help="training steps")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
