"""StyleGAN2 generator in plain PyTorch (Karras et al. 2020), runnable on CPU and GPU.

No custom CUDA ops: upsampling is a depthwise transposed convolution with the FIR filter,
modulated convolutions are grouped convolutions.
"""

from .generator import StyleGAN2Generator
from .mapping import MappingNetwork
from .modulated_conv import ModulatedConv2d, modulated_conv2d
from .synthesis import SynthesisNetwork, check_resolution

__all__ = ["StyleGAN2Generator", "MappingNetwork", "ModulatedConv2d", "modulated_conv2d", "SynthesisNetwork",
           "check_resolution"]
