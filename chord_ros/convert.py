"""Message <-> numpy conversions at the ROS boundary.

* ``sensor_msgs/PointCloud2`` <-> (xyz [N, 3] float32, rgb [N, 3] float32 in [0, 1] or None);
  colour is the PCL packed ``rgb``/``rgba`` field (0x00RRGGBB in a 4-byte field).
* ``chord_msgs/ObjectFlow`` <-> :class:`chord_core.formats.flow.Flow` (the flow.npz arrays of docs/formats.md).
* ``geometry_msgs/Pose`` <-> rotation [3, 3] + translation [3] / a [4, 4] transform.

Everything arriving from the wire is validated here; a malformed message raises ChordError
that names the field at fault, and the nodes' size limits (points per cloud, command length) are
checked here too.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion, Transform, TransformStamped, Vector3
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_msgs.msg import ObjectFlow

_FIELD_DTYPES = {
    PointField.INT8: np.int8,
    PointField.UINT8: np.uint8,
    PointField.INT16: np.int16,
    PointField.UINT16: np.uint16,
    PointField.INT32: np.int32,
    PointField.UINT32: np.uint32,
    PointField.FLOAT32: np.float32,
    PointField.FLOAT64: np.float64,
}


def make_header(frame_id: str, stamp: Time | None = None) -> Header:
    header = Header()
    header.frame_id = frame_id
    if stamp is not None:
        header.stamp = stamp
    return header


def float32_array(values: np.ndarray) -> array.array:
    """Flat float32 array.array: what rclpy stores for float32[] without a per-element copy."""
    return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())


def int32_array(values: np.ndarray) -> array.array:
    """Flat int32 array.array, for int32[] fields (see float32_array)."""
    return array.array("i", np.ascontiguousarray(values, dtype=np.int32).tobytes())


def pose_to_msg(rotation: np.ndarray, translation: np.ndarray) -> Pose:
    """Rotation matrix [3, 3] + translation [3] -> geometry_msgs/Pose."""
    from scipy.spatial.transform import Rotation  # here: nodes without poses skip its ~0.6 s import

    x, y, z, w = Rotation.from_matrix(np.asarray(rotation, float)).as_quat()
    t = np.asarray(translation, float)
    return Pose(position=Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                orientation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)))


def pose_matrix_xyzw(translation, quaternion_xyzw) -> np.ndarray:
    """Translation [3] + unit quaternion in ROS order (x, y, z, w) -> [4, 4] homogeneous transform."""
    from scipy.spatial.transform import Rotation

    out = np.eye(4)
    out[:3, :3] = Rotation.from_quat(np.asarray(quaternion_xyzw, float)).as_matrix()
    out[:3, 3] = np.asarray(translation, float)
    return out


def transforms_msgs(parent: str, children: list[str], positions: np.ndarray, rotations: np.ndarray,
                    stamp: Time | None = None) -> list[TransformStamped]:
    """parent -> child transforms, one per child: positions [N, 3], rotation matrices [N, 3, 3]."""
    from scipy.spatial.transform import Rotation

    header = make_header(parent, stamp)
    quaternions = Rotation.from_matrix(np.asarray(rotations, float)).as_quat() if len(children) else []
    out = []
    for child, t, (x, y, z, w) in zip(children, np.asarray(positions, float), quaternions):
        out.append(TransformStamped(header=header, child_frame_id=child, transform=Transform(
            translation=Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
            rotation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)))))
    return out


def pose_msg_to_matrix(msg: Pose) -> np.ndarray:
    """geometry_msgs/Pose -> [4, 4] homogeneous transform."""
    q = msg.orientation
    return pose_matrix_xyzw([msg.position.x, msg.position.y, msg.position.z], [q.x, q.y, q.z, q.w])


def _cloud_dtype(msg: PointCloud2) -> np.dtype:
    names, formats, offsets = [], [], []
    for f in msg.fields:
        if f.datatype not in _FIELD_DTYPES:
            raise ChordError(f"PointCloud2 field '{f.name}' has unknown datatype {f.datatype}")
        base = np.dtype(_FIELD_DTYPES[f.datatype])
        if msg.is_bigendian:
            base = base.newbyteorder(">")
        count = max(int(f.count), 1)
        size = base.itemsize * count
        if f.offset + size > msg.point_step:
            raise ChordError(
                f"PointCloud2 field '{f.name}' (offset {f.offset}, {size} bytes) does not fit "
                f"in point_step {msg.point_step}; the cloud's point_step is wrong"
            )
        names.append(f.name)
        formats.append(base if count == 1 else (base, count))
        offsets.append(f.offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": msg.point_step})


def check_cloud_points(msg: PointCloud2, max_points: int, name: str) -> None:
    """Refuse object `name`'s cloud of more than `max_points` points before it is decoded: a
    distillation's memory grows with the points (3 million took 3.3 GB), and a voxel filter upstream
    loses nothing it needs."""
    count = int(msg.width) * int(msg.height)
    if count > max_points:
        raise ChordError(f"object '{name}': the cloud has {count} points, more than max_points_per_cloud "
                         f"({max_points}); down-sample it (e.g. a voxel grid filter) or raise the parameter")


def text_preview(text: str, limit: int = 80) -> str:
    """`text`, or its first `limit` characters and its length: logs quote long input without repeating it."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_text_length(text: str, max_chars: int) -> None:
    """Refuse a command longer than `max_chars` characters (the message does not repeat it)."""
    if len(text) > max_chars:
        raise ChordError(f"the command has {len(text)} characters, more than max_command_chars ({max_chars}); "
                         "say it in fewer words")


def cloud_to_numpy(msg: PointCloud2) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a PointCloud2 into xyz [N, 3] float32 and rgb [N, 3] float32 in [0, 1] (or None).

    Raises ChordError for missing x/y/z fields, inconsistent sizes, and NaN/inf coordinates.
    """
    field_names = [f.name for f in msg.fields]
    missing = [n for n in ("x", "y", "z") if n not in field_names]
    if missing:
        raise ChordError(f"PointCloud2 lacks the fields {missing}; it has {field_names}")
    n_points = int(msg.width) * int(msg.height)
    if msg.point_step == 0:
        raise ChordError("PointCloud2 point_step is 0")
    if msg.row_step != msg.point_step * msg.width:
        raise ChordError(
            f"PointCloud2 row_step {msg.row_step} != point_step {msg.point_step} x width {msg.width}"
        )
    if len(msg.data) != msg.row_step * msg.height:
        raise ChordError(
            f"PointCloud2 data has {len(msg.data)} bytes, expected row_step {msg.row_step} x "
            f"height {msg.height} = {msg.row_step * msg.height}"
        )
    dtype = _cloud_dtype(msg)
    records = np.frombuffer(memoryview(msg.data), dtype=dtype, count=n_points)
    xyz = np.stack([records[n].astype(np.float32) for n in ("x", "y", "z")], axis=1)
    if not np.all(np.isfinite(xyz)):
        bad = int(np.count_nonzero(~np.all(np.isfinite(xyz), axis=1)))
        raise ChordError(
            f"PointCloud2 has {bad} of {n_points} points with NaN/inf coordinates; "
            "remove invalid points (e.g. a dense=true cloud) before sending"
        )
    rgb = None
    colour_field = next((n for n in ("rgb", "rgba") if n in field_names), None)
    if colour_field is not None:
        packed = np.ascontiguousarray(records[colour_field]).view(np.uint32)
        rgb = np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=1)
        rgb = rgb.astype(np.float32) / 255.0
    return xyz, rgb


def numpy_to_cloud(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    frame_id: str = "world",
    stamp: Time | None = None,
) -> PointCloud2:
    """Encode xyz [N, 3] (and rgb [N, 3] in [0, 1]) as an unorganised float32 PointCloud2."""
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ChordError(f"points must have shape (N, 3), got {xyz.shape}")
    if not np.all(np.isfinite(xyz)):
        raise ChordError("points contain NaN or inf values")
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
              for i, n in enumerate("xyz")]
    columns = [("x", np.float32), ("y", np.float32), ("z", np.float32)]
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != xyz.shape:
            raise ChordError(f"colours must have shape {xyz.shape} to match the points, got {rgb.shape}")
        fields.append(PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1))
        columns.append(("rgb", np.uint32))
    records = np.empty(len(xyz), dtype=columns)
    records["x"], records["y"], records["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if rgb is not None:
        c = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint32)
        records["rgb"] = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    msg = PointCloud2()
    msg.header = make_header(frame_id, stamp)
    msg.height = 1
    msg.width = len(xyz)
    msg.fields = fields
    msg.is_bigendian = False
    msg.point_step = records.dtype.itemsize
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = True
    msg.data = records.tobytes()
    return msg


def flow_to_msg(flow: Flow, frame_id: str = "world", stamp: Time | None = None) -> ObjectFlow:
    """Pack a Flow into one ObjectFlow message (flat row-major arrays)."""
    msg = ObjectFlow()
    msg.header = make_header(frame_id, stamp)
    msg.prompt = flow.prompt
    msg.fps = flow.fps
    msg.num_frames = flow.num_frames
    msg.num_points = flow.num_points
    msg.object_names = list(flow.object_names)
    msg.object_ids = int32_array(flow.object_ids)
    msg.points = float32_array(flow.points)
    msg.trajectories = float32_array(flow.trajectories)
    if flow.rotations is not None:
        msg.rotations = float32_array(flow.rotations)
    return msg


def msg_to_flow(msg: ObjectFlow) -> Flow:
    """Unpack an ObjectFlow; sizes that disagree with num_frames/num_points raise ChordError."""
    t, n = int(msg.num_frames), int(msg.num_points)
    expected = {"object_ids": n, "points": n * 3, "trajectories": t * n * 3}
    for name, size in expected.items():
        if len(getattr(msg, name)) != size:
            raise ChordError(
                f"ObjectFlow.{name} has {len(getattr(msg, name))} values, expected {size} "
                f"for num_frames={t}, num_points={n}"
            )
    if len(msg.rotations) not in (0, t * n * 4):
        raise ChordError(
            f"ObjectFlow.rotations has {len(msg.rotations)} values, expected 0 or {t * n * 4}"
        )
    trajectories = np.frombuffer(msg.trajectories, dtype=np.float32).reshape(t, n, 3).copy()
    points = np.frombuffer(msg.points, dtype=np.float32).reshape(n, 3)
    if not np.array_equal(points, trajectories[0]):
        raise ChordError("ObjectFlow.points differs from the first frame of trajectories")
    rotations = None
    if len(msg.rotations):
        rotations = np.frombuffer(msg.rotations, dtype=np.float32).reshape(t, n, 4).copy()
    return Flow(
        trajectories=trajectories,
        object_ids=np.frombuffer(msg.object_ids, dtype=np.int32).copy(),
        fps=msg.fps,
        prompt=msg.prompt,
        object_names=list(msg.object_names),
        rotations=rotations,
    )
