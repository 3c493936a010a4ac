"""Deep Feature Flow for video recognition (Zhu et al. 2017; issue 6): models, Algorithm 1, cost."""

from semvis.video.complexity import Complexity, count_flops, dff_complexity, speedup
from semvis.video.dff import DeepFeatureFlow, FeatureNetwork, SegmentationTask, build_dff
from semvis.video.flownet import FLOWNETS, FlowEstimate, FlowNet, InceptionBlock, build_flownet, resize_flow
from semvis.video.inference import DISFlow, FrameResult, run_video, zero_flow
from semvis.video.schedule import MEASURES, AdaptiveSchedule, FixedInterval, KeyFramePolicy

__all__ = [
    "FLOWNETS",
    "MEASURES",
    "AdaptiveSchedule",
    "Complexity",
    "DISFlow",
    "DeepFeatureFlow",
    "FeatureNetwork",
    "FixedInterval",
    "FlowEstimate",
    "FlowNet",
    "FrameResult",
    "InceptionBlock",
    "KeyFramePolicy",
    "SegmentationTask",
    "build_dff",
    "build_flownet",
    "count_flops",
    "dff_complexity",
    "resize_flow",
    "run_video",
    "speedup",
    "zero_flow",
]
