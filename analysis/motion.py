"""A constant-velocity Kalman filter over a box's centre and size, for irregular time steps.

State ``(cx, cy, w, h, vcx, vcy, vw, vh)`` in frame-normalised units and units per second. Noise scales
with the box height (the only size a person's motion relates to in the picture): a far, small pedestrian
moves fewer pixels than a near one. Analysis samples a few frames per second and segments leave gaps, so the
step ``dt`` is whatever time passed, and the process noise grows with it (a white-acceleration model).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

_H = np.hstack([np.eye(4), np.zeros((4, 4))])
# Discrete white-noise acceleration, per unit of q: position dt^4/4, cross terms dt^3/2, velocity dt^2. Sizes
# change more slowly than positions (a quarter of the noise).
_SCALE = np.array([1.0, 1.0, 0.25, 0.25])
_Q_POS = np.zeros((8, 8))
_Q_POS[:4, :4] = np.diag(_SCALE)
_Q_CROSS = np.zeros((8, 8))
_Q_CROSS[:4, 4:] = _Q_CROSS[4:, :4] = np.diag(_SCALE)
_Q_VEL = np.zeros((8, 8))
_Q_VEL[4:, 4:] = np.diag(_SCALE)


@dataclass(frozen=True, slots=True)
class MotionNoise:
    #: Detector box jitter, as a fraction of the box height (one standard deviation).
    measurement: float = 0.06
    #: How fast velocity may change: standard deviation of the acceleration, box heights per second².
    acceleration: float = 0.4
    #: Initial velocity uncertainty, box heights per second (a pedestrian walks about 1 height/s).
    initial_velocity: float = 1.2


def box_to_z(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


def z_to_box(z: np.ndarray) -> np.ndarray:
    cx, cy, w, h = z[:4]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass(slots=True)
class BoxFilter:
    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def start(cls, box: np.ndarray, noise: MotionNoise) -> BoxFilter:
        z = box_to_z(box)
        h = max(z[3], 1e-3)
        pos = (noise.measurement * h) ** 2
        vel = (noise.initial_velocity * h) ** 2
        cov = np.diag([pos, pos, pos, pos, vel, vel, vel / 4, vel / 4])
        return cls(np.concatenate([z, np.zeros(4)]), cov)

    def predicted(self, dt: float, noise: MotionNoise) -> tuple[np.ndarray, np.ndarray]:
        """(mean, covariance) ``dt`` seconds ahead, without changing the filter."""
        m, p = self.mean, self.cov
        mean = np.concatenate([m[:4] + dt * m[4:], m[4:]])
        mean[2:4] = np.maximum(mean[2:4], 1e-3)
        # F P F^T for F = [[I, dt I], [0, I]], by blocks.
        p11, p12, p21, p22 = p[:4, :4], p[:4, 4:], p[4:, :4], p[4:, 4:]
        cov = np.empty((8, 8))
        cov[:4, :4] = p11 + dt * (p12 + p21) + dt * dt * p22
        cov[:4, 4:] = p12 + dt * p22
        cov[4:, :4] = p21 + dt * p22
        cov[4:, 4:] = p22
        q = (noise.acceleration * max(m[3], 1e-3)) ** 2
        cov += q * (dt**4 / 4 * _Q_POS + dt**3 / 2 * _Q_CROSS + dt**2 * _Q_VEL)
        return mean, cov

    def update(self, dt: float, box: np.ndarray, noise: MotionNoise) -> None:
        mean, cov = self.predicted(dt, noise)
        r = (noise.measurement * max(mean[3], 1e-3)) ** 2
        s = cov[:4, :4] + np.eye(4) * r
        gain = np.linalg.solve(s, cov[:, :4].T).T  # P H^T S^-1, S symmetric
        self.mean = mean + gain @ (box_to_z(box) - mean[:4])
        self.mean[2:4] = np.maximum(self.mean[2:4], 1e-3)
        self.cov = cov - gain @ cov[:4, :]
        self.cov = (self.cov + self.cov.T) / 2

    def state(self) -> dict[str, Any]:
        """JSON-safe: the mean as numbers, the covariance's upper triangle as base64 float32 (compact: a
        camera's state is saved with every segment)."""
        upper = self.cov[np.triu_indices(8)].astype(np.float32)
        return {"mean": [float(f"{v:.7g}") for v in self.mean], "cov": pack(upper)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BoxFilter:
        cov = np.zeros((8, 8))
        cov[np.triu_indices(8)] = unpack(state["cov"], np.float32)
        cov = cov + np.triu(cov, 1).T
        return cls(np.array(state["mean"], dtype=np.float64), cov)


def pack(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")


def unpack(text: str, dtype: type) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).astype(np.float64)


def predict_many(filters: list[BoxFilter], dts: np.ndarray, noise: MotionNoise) -> tuple[np.ndarray, np.ndarray]:
    """Predicted measurements (T×4: cx, cy, w, h) and the covariances of their centres (T×2×2, measurement
    noise included) of several filters, each ``dts[i]`` seconds ahead: what matching needs, in one go."""
    means = np.stack([f.mean for f in filters])
    covs = np.stack([f.cov[:2, :2] for f in filters])
    cross = np.stack([f.cov[:2, 4:6] for f in filters])
    cross_t = np.stack([f.cov[4:6, :2] for f in filters])
    vel = np.stack([f.cov[4:6, 4:6] for f in filters])
    dt = dts[:, None, None]
    z = means[:, :4] + dts[:, None] * means[:, 4:]
    z[:, 2:4] = np.maximum(z[:, 2:4], 1e-3)
    h = np.maximum(means[:, 3], 1e-3)
    q = (noise.acceleration * h) ** 2 * (dts**4 / 4)
    r = (noise.measurement * z[:, 3]) ** 2
    centre = covs + dt * (cross + cross_t) + dt * dt * vel + (q + r)[:, None, None] * np.eye(2)
    return z, centre


def centre_distances(z: np.ndarray, centre_cov: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distances (T×M) of each box's centre from each predicted centre."""
    a, b, d = centre_cov[:, 0, 0], centre_cov[:, 0, 1], centre_cov[:, 1, 1]
    det = np.maximum(a * d - b * b, 1e-18)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    dx = centres[None, :, 0] - z[:, None, 0]
    dy = centres[None, :, 1] - z[:, None, 1]
    return (d[:, None] * dx * dx - 2 * b[:, None] * dx * dy + a[:, None] * dy * dy) / det[:, None]
