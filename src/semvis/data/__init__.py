"""Data loading: images, label specs, classification and segmentation datasets, joint transforms, video frames."""

from semvis.data.datasets import ImageFolderDataset, SegmentationDataset, shared_dataset
from semvis.data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    image_to_tensor,
    list_images,
    load_image,
    load_label,
    load_tensor,
    looks_gray,
    match_channels,
    save_image,
    tensor_to_image,
)
from semvis.data.labels import LabelSpec
from semvis.data.transforms import RandomScaleCropFlip, ResizeCropFlip
from semvis.data.video import FrameFolder, FrameSource, VideoReader, VideoWriter, open_frames

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "FrameFolder",
    "FrameSource",
    "ImageFolderDataset",
    "LabelSpec",
    "RandomScaleCropFlip",
    "ResizeCropFlip",
    "SegmentationDataset",
    "VideoReader",
    "VideoWriter",
    "image_to_tensor",
    "list_images",
    "load_image",
    "load_label",
    "load_tensor",
    "looks_gray",
    "match_channels",
    "open_frames",
    "save_image",
    "shared_dataset",
    "tensor_to_image",
]
