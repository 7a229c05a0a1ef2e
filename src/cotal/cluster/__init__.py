"""Clustering step: video descriptors and spectral clustering into pseudo action classes (SPEC section 3)."""

from cotal.cluster.descriptors import pool_features, video_descriptors
from cotal.cluster.spectral import SpectralVideoClustering, eigengap_clusters

__all__ = ["SpectralVideoClustering", "eigengap_clusters", "pool_features", "video_descriptors"]
