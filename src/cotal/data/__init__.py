"""Datasets: ground-truth annotations + per-snippet features + snippet timing."""

from cotal.data.annotations import Annotations, VideoAnnotation, load_annotations
from cotal.data.dataset import DatasetMeta, FeatureDataset
from cotal.data.timing import SnippetTiming

__all__ = [
    "Annotations",
    "DatasetMeta",
    "FeatureDataset",
    "SnippetTiming",
    "VideoAnnotation",
    "load_annotations",
]
