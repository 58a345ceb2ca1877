"""The hierarchical motion model: control points, Mahalanobis LBS, Fenwick-tree SE(3) (Eq. 5-11)."""
