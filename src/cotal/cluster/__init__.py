"""Clustering step: video descriptors and spectral clustering into pseudo action classes (docs/method.md §4, eqs. 5-6).

Names load on first use (PEP 562), so that importing ``cotal.cluster.config`` does not pull in SciPy or
scikit-learn.
"""

from __future__ import annotations

from cotal.utils.lazy import lazy_exports

_SOURCES = {
    "ClusterConfig": "cotal.cluster.config",
    "SpectralVideoClustering": "cotal.cluster.spectral",
    "silhouette_clusters": "cotal.cluster.spectral",
    "pool_features": "cotal.cluster.descriptors",
    "video_descriptors": "cotal.cluster.descriptors",
}

__all__ = ["ClusterConfig", "SpectralVideoClustering", "pool_features", "silhouette_clusters", "video_descriptors"]

__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
