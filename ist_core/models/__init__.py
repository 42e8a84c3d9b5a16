"""The networks: ResNet18-IN trunk, IST's encoder, generator and critic, and the predictor."""

from .ist import Critic, Encoder, Generator, StyleTransfer, moment_match, style_code
from .predictor import DRPredictor, MixStylePredictor, Predictor
from .resnet import ResNetIN

__all__ = ["Critic", "DRPredictor", "Encoder", "Generator", "MixStylePredictor", "Predictor", "ResNetIN", "StyleTransfer", "moment_match", "style_code"]
