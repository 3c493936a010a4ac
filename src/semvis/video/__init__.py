"""Deep Feature Flow for video recognition (Zhu et al. 2017; issue 6): models, Algorithm 1, cost, whole videos."""

from semvis.video.chairs import FlowPair, SyntheticPairs, synthetic_pair
from semvis.video.complexity import Complexity, count_flops, dff_complexity, meta_copy, speedup
from semvis.video.dff import (
    DeepFeatureFlow,
    FeatureNetwork,
    SegmentationTask,
    SegmenterFeatures,
    SegmenterTask,
    build_dff,
    segmenter_dff,
)
from semvis.video.flownet import FLOWNETS, FlowEstimate, FlowNet, InceptionBlock, build_flownet, resize_flow
from semvis.video.inference import DenseFlow, DISFlow, FlowFunction, FrameResult, run_video, zero_flow
from semvis.video.pipeline import FLOWS, SegmentedVideo, segment_video
from semvis.video.render import overlay_frame
from semvis.video.schedule import MEASURES, AdaptiveSchedule, FixedInterval, KeyFramePolicy
from semvis.video.timing import RunTiming

__all__ = [
    "FLOWNETS",
    "FLOWS",
    "MEASURES",
    "AdaptiveSchedule",
    "Complexity",
    "DISFlow",
    "DeepFeatureFlow",
    "DenseFlow",
    "FeatureNetwork",
    "FixedInterval",
    "FlowEstimate",
    "FlowFunction",
    "FlowNet",
    "FlowPair",
    "FrameResult",
    "InceptionBlock",
    "KeyFramePolicy",
    "RunTiming",
    "SegmentationTask",
    "SegmentedVideo",
    "SegmenterFeatures",
    "SegmenterTask",
    "SyntheticPairs",
    "build_dff",
    "build_flownet",
    "count_flops",
    "dff_complexity",
    "meta_copy",
    "overlay_frame",
    "resize_flow",
    "run_video",
    "segment_video",
    "segmenter_dff",
    "speedup",
    "synthetic_pair",
    "zero_flow",
]
