"""Flow models: Keras 3 models users fit, score, sample, encode and save."""

from tfflows.models.flow_model import FlowModel
from tfflows.models.glow import Glow
from tfflows.models.maf import IAF, MAF
from tfflows.models.nice import NICE
from tfflows.models.parallel_wavenet import ParallelWaveNet
from tfflows.models.planar_flow import PlanarFlow
from tfflows.models.real_nvp import RealNVP
from tfflows.models.registry import FAMILIES, build_model, family, for_data, model_config
from tfflows.models.vae import VAE
from tfflows.models.video_flow import VideoFlow
from tfflows.models.wavenet import WaveNet

__all__ = [
    "FAMILIES",
    "FlowModel",
    "Glow",
    "IAF",
    "MAF",
    "NICE",
    "ParallelWaveNet",
    "PlanarFlow",
    "RealNVP",
    "VAE",
    "VideoFlow",
    "WaveNet",
    "build_model",
    "family",
    "for_data",
    "model_config",
]
