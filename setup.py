"""Packaging for tfflows: normalizing flows for TensorFlow with a pretrained zoo."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent


def _requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="tfflows",
    version="0.1.0",
    description="Normalizing flows as TensorFlow Probability bijectors over Keras 3 layers",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # The zoo's presets (zoo/<name>/: preset.json, weights, model card) ship inside the
    # package as tfflows.zoo_presets, so that tfflows.zoo.load works offline after pip install.
    packages=[*find_packages(include=["tfflows", "tfflows.*"]), "tfflows.zoo_presets"],
    package_dir={"tfflows.zoo_presets": "zoo"},
    package_data={
        "tfflows.zoo_presets": [
            "*/*.json",
            "*/*.weights.h5",
            "*/*.md",
            "*/*.png",
            "*/*.gif",
            "*/*.wav",
        ]
    },
    install_requires=_requirements(),
    extras_require={
        "dev": ["pytest==9.2.0", "ruff==0.17.6"],
        # The peers of bench/compare.py; torch 2.13.0 is the CPU build (a newer torch from
        # PyPI pulls CUDA packages of several GB).
        "bench": ["torch==2.13.0", "normflows==1.7.3", "nflows==0.14", "zuko==1.6.0"],
    },
    entry_points={"console_scripts": ["tfflows=tfflows.cli:main"]},
)
