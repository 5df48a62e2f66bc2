"""2-D pose from video with mediapipe 0.10.21 (the optional `pose2d` extra), for MoBind's
IMU <-> 2-D pose path.

mediapipe's pose models ship inside its wheel, so this runs offline. Its landmarker reports
33 BlazePose landmarks (the person's own left and right) normalised to the image; they are
mapped onto COCO-17 keypoints (`indexer.bodyparts.COCO17_JOINTS`, which the canonical joint
map already knows: pelvis, neck and chest are derived) in pixels with y pointing up, the
convention of the 2-D token towers. Frames where nobody is found are filled in from their
neighbours in time; a video where that is most frames is refused.

Depth videos (UTD-MHAD's: a grey body on a black, removed background) are not what the
landmarker was trained on; drawn as a dark silhouette on white it finds the body in most
frames, so such frames are inverted first (`depth=None` detects them). A silhouette does not
say whether the person faces the camera; the landmarker assumes they do. Kinect depth maps are
also mirror images, so they are flipped back (`mirror`), or the person's right arm would be
reported as the left one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.bodyparts import COCO17_JOINTS
from indexer.errors import BadInput
from indexer.imports import optional
from indexer.model import PoseStream

# COCO-17 keypoint -> BlazePose landmark index (mediapipe's PoseLandmark enum).
BLAZEPOSE_TO_COCO17 = {
    "nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8,
    "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14,
    "left_wrist": 15, "right_wrist": 16, "left_hip": 23, "right_hip": 24,
    "left_knee": 25, "right_knee": 26, "left_ankle": 27, "right_ankle": 28,
}
_COLUMNS = [BLAZEPOSE_TO_COCO17[j] for j in COCO17_JOINTS]
MAX_MISSING = 0.5  # share of frames without a person above which the video is refused


def landmarks_to_coco17(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, 33, 2) normalised image coordinates (x right, y down) -> (T, 17, 2) COCO-17 in
    pixels with y up."""
    pts = np.asarray(landmarks, dtype=np.float32)[:, _COLUMNS]
    return np.stack([pts[..., 0] * width, -pts[..., 1] * height], axis=-1)


def fill_gaps(frames: np.ndarray, where: str) -> np.ndarray:
    """Linear interpolation over frames that are NaN (nobody detected); edges hold the nearest
    detection. Refuses a stream where most frames are missing."""
    missing = ~np.isfinite(frames).all(axis=(1, 2))
    if missing.all():
        raise BadInput(where, "no person was found in any frame")
    if missing.mean() > MAX_MISSING:
        raise BadInput(where, f"no person was found in {int(missing.sum())} of {len(missing)} frames")
    if missing.any():
        t = np.arange(len(frames))
        flat = frames.reshape(len(frames), -1).copy()
        for c in range(flat.shape[1]):
            flat[missing, c] = np.interp(t[missing], t[~missing], flat[~missing, c])
        frames = flat.reshape(frames.shape)
    return frames


def looks_like_depth(rgb: np.ndarray) -> bool:
    """Grey frame whose background is mostly exactly black: a depth map with the room removed."""
    grey = np.ptp(rgb.astype(np.int16), axis=2).max() <= 2
    return bool(grey and (rgb[..., 0] == 0).mean() > 0.5)


def depth_to_silhouette(rgb: np.ndarray) -> np.ndarray:
    """Readings (non-zero) become dark, the empty background white."""
    return np.where(rgb > 0, 255 - rgb, 255).astype(np.uint8)


def video_pose(path: str | Path, max_frames: int | None = None, min_confidence: float = 0.3,
               depth: bool | None = None, mirror: bool | None = None, smooth: bool = False) -> PoseStream:
    """A 2-D COCO-17 PoseStream (pixels, y up) of the most prominent person in a video.
    `depth`: treat frames as depth maps (None: decide from the first frame); `mirror`: flip
    frames left-right first (None: flip depth maps, which Kinect records mirrored); `smooth`:
    mediapipe's landmark smoothing, off by default because its filter makes the pose lag the
    motion, which is exactly what synchronisation measures."""
    path = Path(path)
    if not path.exists():
        raise BadInput(str(path), "file does not exist")
    mp = optional("mediapipe", "pose2d", "2-D pose from video")
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        raise BadInput(str(path), f"not a readable video ({type(exc).__name__}: {exc})") from None
    with container:
        streams = container.streams.video
        if not streams:
            raise BadInput(str(path), "file has no video stream")
        stream = streams[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        if not rate > 0:
            raise BadInput(str(path), "video has no frame rate")
        found, size = [], (0, 0)
        with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=smooth,
                                    min_detection_confidence=min_confidence,
                                    min_tracking_confidence=min_confidence) as model:
            for i, frame in enumerate(container.decode(stream)):
                if max_frames is not None and i >= max_frames:
                    break
                rgb = frame.to_ndarray(format="rgb24")
                size = (rgb.shape[1], rgb.shape[0])
                if depth is None:
                    depth = looks_like_depth(rgb)
                if depth:
                    rgb = depth_to_silhouette(rgb)
                if mirror if mirror is not None else depth:
                    rgb = np.ascontiguousarray(rgb[:, ::-1])
                result = model.process(rgb)
                if result.pose_landmarks is None:
                    found.append(np.full((33, 2), np.nan, np.float32))
                else:
                    found.append(np.array([(lm.x, lm.y) for lm in result.pose_landmarks.landmark], np.float32))
    if not found:
        raise BadInput(str(path), "video has no frames")
    frames = fill_gaps(landmarks_to_coco17(np.stack(found), *size), str(path))
    return PoseStream(frames, rate, "coco17", list(COCO17_JOINTS), source=str(path))
