"""Optical flow: Middlebury ``.flo`` files, DIS flow from OpenCV, reliability masks and flicker."""

from semvis.flow.consistency import end_point_error, flicker, occlusion_mask
from semvis.flow.dis import dis_flow
from semvis.flow.io import flow_to_tensor, read_flo, write_flo

__all__ = ["dis_flow", "end_point_error", "flicker", "flow_to_tensor", "occlusion_mask", "read_flo", "write_flo"]
