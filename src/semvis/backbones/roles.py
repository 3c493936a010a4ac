"""Which named stage of each backbone plays which part for the networks built on it.

PSPNet, Deep Feature Flow and the hashing trunk all read their stages here, so a backbone's
facts live in one table keyed by its registered name instead of one table per capability.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageRoles:
    """The stages a head picks from one backbone.

    Attributes:
        dense: the last feature stage, run dilated at output stride 8 or 16 (PSPNet's main
            input, DFF's N_feat).
        aux: an intermediate stage for PSPNet's auxiliary head.
        semifinal: the "semifinal conv block" of deep hashing, a map at 1/8 of the input.
        semifinal_stride: the output stride to build the backbone with so ``semifinal`` is at 1/8.
    """

    dense: str
    aux: str
    semifinal: str
    semifinal_stride: int


#: At 224×224 input each ``semifinal`` gives a 28×28 map: VGG's fourth block (512 channels)
#: before its pool, and Xception's last entry-flow block (728 channels) at output stride 8,
#: i.e. with its pool turned into stride 1 (``entry2``, 256 channels at stride 8 without
#: dilation, is the cheaper Xception choice). MobileNetV2 (Sandler et al. 2018, §6.3 runs it dilated
#: for DeepLabv3) gives PSPNet its 1280-channel ``conv_last`` and its 96-channel ``block5`` (the end
#: of the 1/16 part, 1/8 when dilated) as auxiliary input; its semifinal is ``block7``, the last
#: bottleneck (320 channels) before the final 1×1 conv, at output stride 8 (``block3``, 32 channels
#: at 1/8 without dilation, is the cheaper choice).
_ROLES = {
    "vgg16": StageRoles("relu5_3", "relu4_3", "relu4_3", 32),
    "vgg19": StageRoles("relu5_4", "relu4_4", "relu4_4", 32),
    "xception": StageRoles("exit_conv", "middle8", "entry3", 8),
    "mobilenet_v2": StageRoles("conv_last", "block5", "block7", 8),
}


def stage_roles(backbone: str) -> StageRoles:
    """The :class:`StageRoles` of a registered backbone name; ``ValueError`` for one without them."""
    if backbone not in _ROLES:
        raise ValueError(f"backbone must be one of {sorted(_ROLES)}, got {backbone!r}")
    return _ROLES[backbone]
