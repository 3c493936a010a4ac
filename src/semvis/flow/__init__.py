"""Optical flow: Middlebury ``.flo`` files, DIS flow from OpenCV, RAFT-small, reliability masks and flicker."""

from semvis.flow.consistency import end_point_error, flicker, occlusion_mask
from semvis.flow.dis import dis_flow
from semvis.flow.io import flow_to_tensor, read_flo, write_flo
from semvis.flow.raft import RAFTFlow, RAFTSmall, raft_small

__all__ = [
    "RAFTFlow",
    "RAFTSmall",
    "dis_flow",
    "end_point_error",
    "flicker",
    "flow_to_tensor",
    "occlusion_mask",
    "raft_small",
    "read_flo",
    "write_flo",
]
