"""Datasets: ground-truth annotations + per-snippet features + snippet timing."""

from cotal.data.annotations import Annotations, VideoAnnotation, load_annotations
from cotal.data.check import check_dataset
from cotal.data.convert import ConvertReport, convert_dataset
from cotal.data.dataset import DatasetMeta, FeatureDataset
from cotal.data.info import dataset_info
from cotal.data.problems import Problem
from cotal.data.published import PublishedDataset
from cotal.data.readers import read_published, read_um, read_wtalc
from cotal.data.timing import SnippetTiming

__all__ = [
    "Annotations",
    "ConvertReport",
    "DatasetMeta",
    "FeatureDataset",
    "Problem",
    "PublishedDataset",
    "SnippetTiming",
    "VideoAnnotation",
    "check_dataset",
    "convert_dataset",
    "dataset_info",
    "load_annotations",
    "read_published",
    "read_um",
    "read_wtalc",
]
