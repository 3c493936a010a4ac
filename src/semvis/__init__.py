"""semvis: five computer-vision papers on one PyTorch core.

Xception backbones, semantic-driven colorization, Gatys neural style transfer,
semantic deep hashing and Deep Feature Flow share the backbones, weights
registry, segmentation and data loading defined here.
"""

__version__ = "0.1.0"
