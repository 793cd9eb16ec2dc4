"""Procedural 3D thorax CT phantoms: the embedded default data set.

No package ships real CT volumes that could be bundled, yet a prior learned on 3-slice patches
needs volumes with genuine structure along z and differences between patients. Each seed draws
one patient whose anatomy lives in continuous patient coordinates (mm) and is only then sampled
on the grid, so a seed gives the same anatomy at any grid size and every structure continues
smoothly from slice to slice. Regions are (approximate) signed distance fields; a voxel's share
of a region is its distance to the edge in units of the voxel's extent across that edge, which
gives partial-volume edges instead of aliased ones.

Coordinates: x along image columns (patient right to left, as CT is viewed), y along rows
(anterior to posterior), z along slices (inferior to superior); the origin is the carina.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

HU_WINDOW = (-1000.0, 1000.0)
"""CT numbers (HU) mapped linearly onto [0, 1] by `thorax_phantom`; values outside are clipped."""

# CT numbers (HU) of the tissues painted.
AIR = -1000.0
LUNG = -850.0
FAT = -100.0
SOFT = 40.0
BLOOD = 45.0
LIVER = 60.0
DISC = 80.0
CARTILAGE = 110.0
TABLE = 100.0
CANCELLOUS = 250.0
CORTICAL = 850.0

_FAR = 1e3  # signed distance (mm) standing for "nowhere near"
_RIB_START = 0.22  # angle (rad) from the posterior midline where ribs leave the spine


SLICE_THICKNESS_MM = 2.5
FIELD_OF_VIEW_MM = 360.0
"""Default sampling: slice thickness and the in-plane field of view the slices span."""


def phantom_spacing(
    size: int,
    slice_thickness_mm: float = SLICE_THICKNESS_MM,
    field_of_view_mm: float = FIELD_OF_VIEW_MM,
) -> tuple[float, float, float]:
    """(z, y, x) voxel spacing in mm of a phantom with size x size slices."""
    return (slice_thickness_mm, field_of_view_mm / size, field_of_view_mm / size)


def thorax_phantom(
    size: int,
    slices: int,
    seed: int,
    slice_thickness_mm: float = SLICE_THICKNESS_MM,
    field_of_view_mm: float = FIELD_OF_VIEW_MM,
) -> np.ndarray:
    """float32 array [slices, size, size] in [0, 1]: HU_WINDOW mapped linearly, clipped.

    The seed alone draws the patient (body habitus, organs, vessel trees, nodules, rib phase and
    which part of the chest the slices cover); size and field of view only set the sampling.
    """
    if size < 2 or slices < 1:
        raise ValueError(f"need size >= 2 and slices >= 1, got size={size}, slices={slices}")
    patient = _Patient(np.random.default_rng(seed))
    grid = _Grid(size, slices, slice_thickness_mm, field_of_view_mm, patient.z_centre)
    low, high = HU_WINDOW
    return np.clip((_paint(patient, grid) - low) / (high - low), 0.0, 1.0).astype(np.float32)


class _Grid:
    """Voxel centres in patient coordinates (mm), broadcastable as [z, y, x]."""

    def __init__(self, size: int, slices: int, thickness: float, fov: float, z_centre: float):
        pixel = fov / size
        centres = ((np.arange(size) - (size - 1) / 2) * pixel).astype(np.float32)
        self.x = centres.reshape(1, 1, -1)
        self.y = centres.reshape(1, -1, 1)
        depth = z_centre + (np.arange(slices) - (slices - 1) / 2) * thickness
        self.z = depth.astype(np.float32).reshape(-1, 1, 1)
        self.shape = (slices, size, size)
        self.spacing = np.array([thickness, pixel, pixel])  # z, y, x

    def coverage(self, sd: np.ndarray) -> np.ndarray:
        """Fraction of each voxel inside the region sd < 0.

        The field's change per voxel step is the voxel's extent across the edge; it is clamped
        to what a true distance field allows so kinks and jumps far from an edge stay harmless.
        """
        sd = np.broadcast_to(np.asarray(sd, np.float32), self.shape)
        width = np.zeros(self.shape, np.float32)
        step = np.empty(self.shape, np.float32)
        for axis, n in enumerate(self.shape):
            if n > 1:
                ahead, behind, last, before_last = (
                    tuple(cut if a == axis else slice(None) for a in range(3))
                    for cut in (slice(1, None), slice(None, -1), -1, -2)
                )
                np.subtract(sd[ahead], sd[behind], out=step[behind])
                step[last] = step[before_last]
                width += np.square(step, out=step)
        np.sqrt(width, out=width)
        np.clip(width, self.spacing.min(), np.linalg.norm(self.spacing), out=width)
        cover = np.divide(sd, width, out=width)
        np.subtract(0.5, cover, out=cover)
        return np.clip(cover, 0.0, 1.0, out=cover)

    def tubes(self, paths: list[np.ndarray]) -> np.ndarray:
        """Signed distance to tubes, each a polyline of rows (x, y, z, radius) in mm.

        Each piece is a capsule with linearly varying radius, evaluated only in its bounding
        box, so hundreds of thin branches cost little at any grid size.
        """
        sd = np.full(self.shape, _FAR, np.float32)
        pieces = np.concatenate([np.stack([path[:-1], path[1:]], axis=1) for path in paths])
        start, end = pieces[:, 0], pieces[:, 1]
        step = self.spacing[::-1]
        origin = np.array([self.x[0, 0, 0], self.y[0, 0, 0], self.z[0, 0, 0]])
        reach = np.maximum(start[:, 3:], end[:, 3:]) + 2 * step.max()
        low = np.ceil((np.minimum(start[:, :3], end[:, :3]) - reach - origin) / step)
        high = np.floor((np.maximum(start[:, :3], end[:, :3]) + reach - origin) / step) + 1
        low = np.maximum(low, 0).astype(int)
        high = np.minimum(high, self.shape[::-1]).astype(int)
        inside = np.all(high > low, axis=1)
        for (ax, ay, az, ar), (dx, dy, dz, dr), (i0, j0, k0), (i1, j1, k1) in zip(
            start[inside].tolist(),
            (end - start)[inside].tolist(),
            low[inside].tolist(),
            high[inside].tolist(),
            strict=True,
        ):
            x, y, z = self.x[..., i0:i1] - ax, self.y[:, j0:j1] - ay, self.z[k0:k1] - az
            t = (x * dx + y * dy + z * dz) * (1 / max(dx * dx + dy * dy + dz * dz, 1e-9))
            t = np.clip(t, 0, 1, out=t)
            dist = np.sqrt((x - t * dx) ** 2 + (y - t * dy) ** 2 + (z - t * dz) ** 2)
            dist -= ar + t * dr
            view = sd[k0:k1, j0:j1, i0:i1]
            np.minimum(view, dist, out=view)
        return sd


def _wrap(t: np.ndarray, period: float) -> np.ndarray:
    """t folded into [-period/2, period/2): the offset from the nearest repeat of a structure."""
    return t - period * np.round(t / period)


def _ellipsoid(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray | float,
    centre: Sequence[np.ndarray | float],
    semi: Sequence[float],
    frame: np.ndarray | None = None,
) -> np.ndarray:
    """Approximate signed distance (mm) to an ellipsoid, axes along the rows of `frame`."""
    frame = np.eye(3) if frame is None else frame
    dx, dy, dz = (np.float32(p - c) for p, c in zip((x, y, z), centre, strict=True))
    q = sum(
        ((a * dx + b * dy + c * dz) / s) ** 2
        for (a, b, c), s in zip(frame.tolist(), map(float, semi), strict=True)
    )
    return (np.sqrt(q) - 1) * float(min(semi))


def _frame(axis: np.ndarray) -> np.ndarray:
    """Orthonormal rows, the first along `axis`, the second horizontal."""
    first = axis / np.linalg.norm(axis)
    second = np.cross(first, [0.0, 0.0, 1.0])
    second /= np.linalg.norm(second)
    return np.stack([first, second, np.cross(first, second)])


def _perpendicular(rng: np.random.Generator, directions: np.ndarray) -> np.ndarray:
    """Random unit vectors, one perpendicular to each row of `directions`."""
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    w = rng.normal(size=directions.shape)
    w -= np.sum(w * unit, axis=1, keepdims=True) * unit
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def _rotate(v: np.ndarray, axes: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rows of v rotated by `angles` about the unit rows of `axes` (Rodrigues)."""
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    return (
        v * cos
        + np.cross(axes, v) * sin
        + axes * np.sum(axes * v, axis=1, keepdims=True) * (1 - cos)
    )


def _spline(rows: list[tuple[float, ...]], per_piece: int = 8) -> np.ndarray:
    """Catmull-Rom curve through control rows (x, y, z, radius): smooth tubes from a few points."""
    p = np.asarray(rows, float)
    p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0, 1, per_piece, endpoint=False)[:, None]
    pieces = [
        0.5
        * (
            2 * p1
            + (p2 - p0) * t
            + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
            + (3 * p1 - p0 - 3 * p2 + p3) * t**3
        )
        for p0, p1, p2, p3 in zip(p[:-3], p[1:-2], p[2:-1], p[3:], strict=True)
    ]
    return np.vstack([*pieces, p[-2:-1]])


def _trees(
    rng: np.random.Generator,
    roots: np.ndarray,
    directions: np.ndarray,
    length: tuple[float, float],
    radius: tuple[float, float],
    generations: int,
) -> list[np.ndarray]:
    """Branching tubes grown from the roots, one generation at a time for all trees at once.

    Each branch is a bent segment that splits in two thinner, shorter branches at random
    angles, so branches run obliquely through slices and show as dots and ellipses that move
    from slice to slice, as vessels do in real chest CT.
    """
    count = len(roots)
    starts, lengths = roots, rng.uniform(*length, count)
    radii = rng.uniform(*radius, count)
    paths: list[np.ndarray] = []
    for generation in range(generations):
        unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
        reach = lengths[:, None] * unit
        bend = _perpendicular(rng, unit) * lengths[:, None] * rng.uniform(0.05, 0.25, (count, 1))
        control, ends = starts + 0.5 * reach + bend, starts + reach
        middle = 0.25 * starts + 0.5 * control + 0.25 * ends  # the quadratic Bezier at t = 1/2
        rows = np.stack([starts, middle, ends], axis=1)
        taper = np.outer(radii, [1.0, 0.95, 0.9])[..., None]
        paths.extend(np.concatenate([rows, taper], axis=2))
        if generation == generations - 1:
            break
        # Children turn away from their parent's tangent but keep heading away from the root,
        # so trees fan out to fill the lung instead of curling back.
        tangent = ends - control
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
        outward = ends - roots
        outward /= np.linalg.norm(outward, axis=1, keepdims=True)
        axes = _perpendicular(rng, tangent)
        turn = rng.uniform(0.3, 0.7, 2 * count) * np.repeat([1, -1], count)
        directions = _rotate(np.tile(tangent, (2, 1)), np.tile(axes, (2, 1)), turn)
        directions += 0.4 * np.tile(outward, (2, 1))
        starts, roots, count = np.tile(ends, (2, 1)), np.tile(roots, (2, 1)), 2 * count
        lengths = np.tile(lengths, 2) * rng.uniform(0.78, 0.92, count)
        radii = np.tile(radii, 2) * rng.uniform(0.72, 0.85, count)
    return paths


class _Patient:
    """One patient: every random choice, drawn from the generator alone, in mm."""

    def __init__(self, rng: np.random.Generator):
        u = rng.uniform
        # Which part of the chest the slices cover: around the carina, heart below.
        self.z_centre = u(-50.0, -15.0)

        # Body outline: a superellipse whose axes vary slowly along z, with smooth angular
        # harmonics drifting with z; subcutaneous fat and muscle layers follow it inward.
        self.fat, self.muscle = u(6, 25), u(8, 14)
        self.half_width = u(125, 150) + self.fat
        self.front, self.back = u(100, 120) + self.fat, u(90, 105) + self.fat
        self.power = u(2.1, 2.6)
        self.wave_amplitude = u(0.02, 0.05, 2)
        self.wave_number = 2 * np.pi / u(180, 320, 2)
        self.wave_phase = u(0, 2 * np.pi, 2)
        self.harmonics = np.column_stack(
            [np.arange(2, 6), u(0, 0.02, 4), u(0, 2 * np.pi, 4), u(-0.01, 0.01, 4)]
        )

        # Spine: vertebral bodies repeating along z with discs between, gently curved.
        self.spine_y = self.back - self.fat - u(60, 70)
        self.spine_x, self.spine_tilt = u(-4, 4), u(-0.03, 0.03)
        self.kyphosis = u(500, 1000)
        self.period = u(24, 29)
        self.phase = u(0, self.period)
        self.vertebra = (u(18, 23), u(14, 18))
        self.disc = u(4, 6)
        self.canal = u(6.5, 8)

        # Thoracic cavity: its back edge lies beside the spine, so lungs fill the gutters.
        self.cavity_back = self.spine_y + u(18, 28)
        self.cavity_inset = self.fat + self.muscle + u(10, 14)

        # Ribs: oblique bands dropping from the spine towards the front, one per vertebra.
        self.rib_drop = u(60, 90)
        self.rib_end = u(2.2, 2.45)  # angle from the back where bone turns to cartilage
        self.sternum_top, self.sternum_bottom = u(45, 65), u(-130, -110)

        # Diaphragm domes (right higher) and lung apices.
        self.dome_right = u(-110, -85)
        self.dome_left = self.dome_right - u(5, 20)
        self.dome_radius = u(80, 110)
        self.apex = u(100, 130)

        # Mediastinal organs sit at typical depths (mm) in front of the vertebral bodies,
        # scaled to this patient's distance between spine and sternum.
        spine_front = self.spine_y - self.vertebra[1]
        scale = (spine_front + self.front - self.cavity_inset) / 110

        def j() -> float:
            return rng.normal(0, 2.5)

        def at(x: float, depth: float, z: float, *radius: float) -> tuple[float, ...]:
            return (x + j(), spine_front - scale * depth + j(), z, *radius)

        # Heart: a ventricular ellipsoid pointing left, forward and down, with atria.
        centre = np.array(at(u(10, 30), 55, u(-90, -65)))
        self.heart_centre = centre
        self.heart_frame = _frame(np.array([u(0.5, 0.8), -u(0.3, 0.6), -u(0.4, 0.7)]))
        size = np.clip(scale, 0.8, 1.1) * u(0.9, 1.1)
        self.heart_semi = np.array([u(50, 62), u(38, 46), u(35, 42)]) * size
        self.left_atrium = np.array(at(centre[0] + u(-15, 0), 25, centre[2] + u(25, 35)))
        self.right_atrium = np.array(at(centre[0] + u(-45, -35), 45, centre[2] + u(5, 15)))
        self.contrast = u(0, 250) * (u() < 0.7)

        # Great vessels and airways as smooth tubes through jittered control points.
        cz, arch = centre[2], u(28, 42)
        self.aorta = _spline(
            [
                at(centre[0] - 25, 55, cz + 30, 14),
                at(-15, 60, -10, 15),
                at(-12, 58, arch - 15, 14),
                at(0, 40, arch, 13),
                at(18, 18, arch - 3, 12),
                at(24, 5, 10, 12),
                at(22, 3, -50, 11.5),
                at(14, 0, -170, 11),
            ]
        )
        hilum_right = np.array(at(-52, 25, -16 + j()))
        hilum_left = np.array(at(58, 20, -12 + j()))
        trunk = at(18, 48, -5, 12)
        self.pulmonary = [
            _spline([at(centre[0] - 5, 70, cz + 40, 13), at(15, 65, -20, 13), trunk]),
            _spline([trunk, at(40, 30, -6, 10), (*hilum_left, 8)]),
            _spline([trunk, at(-5, 40, -8, 10), at(-35, 30, -12, 9), (*hilum_right, 8)]),
        ]
        # Arch branches, brachiocephalic veins and the superior vena cava fill the upper
        # mediastinum.
        junction = at(-30, 50, arch + 12, 9)
        self.veins = [
            _spline([at(75, 40, arch + 75, 6), at(25, 62, arch + 30, 7), junction]),
            _spline([at(-50, 45, arch + 80, 6), at(-35, 48, arch + 40, 7), junction]),
            _spline([junction, at(-30, 50, 10, 10), at(-30, 45, -25, 11)]),
        ]
        self.arch_branches = [
            _spline([at(-5, 45, arch, 7), at(-15, 45, arch + 30, 6), at(-25, 40, arch + 150, 5)]),
            _spline([at(5, 38, arch, 5), at(10, 35, arch + 40, 4.5), at(15, 30, arch + 150, 4)]),
            _spline([at(14, 25, arch - 2, 6), at(24, 22, arch + 30, 5), at(85, 25, arch + 70, 5)]),
        ]
        carina = at(0, 25, 0, 8)
        bronchus_right = np.array(at(-38, 20, -35 + j()))
        bronchus_left = np.array(at(45, 18, -42 + j()))
        self.airway = [
            _spline([at(1, 40, 200, 9.5), at(0, 33, 80, 9), carina]),
            _spline([carina, at(-20, 22, -18, 6.5), (*bronchus_right, 5.5)]),
            _spline([carina, at(22, 22, -15, 6), (*bronchus_left, 5)]),
        ]
        self.esophagus = _spline([at(8, 12, 200, 7), at(10, 10, 0, 7), at(18, 8, -120, 7)])

        # Lung vessels and bronchi branch from the hila towards every lobe (directions written
        # for the left lung, x lateral, and mirrored for the right).
        arteries = [
            (0.3, -0.4, 1),
            (0.4, 0.4, 0.9),
            (0.9, -0.5, -0.2),
            (0.8, 0.5, -0.1),
            (0.4, 0.5, -1),
            (0.5, 0.8, -0.6),
        ]
        veins = [(0.8, -0.2, -0.5), (0.7, -0.6, 0.2), (0.5, 0.6, -0.7)]
        lobes = [(0.4, -0.2, 1), (0.8, -0.5, -0.4), (0.4, 0.5, -1)]
        roots, directions, airways, bronchial = [], [], [], []
        for side, hilum, bronchus in (
            (-1, hilum_right, bronchus_right),
            (1, hilum_left, bronchus_left),
        ):
            mirror = np.array([side, 1.0, 1.0])
            arterial, venous = rng.integers(4, len(arteries) + 1), rng.integers(2, len(veins) + 1)
            roots += [hilum] * arterial + [hilum + np.array([-5 * side, -8, -22])] * venous
            directions += [np.array(d) * mirror for d in arteries[:arterial] + veins[:venous]]
            airways += [bronchus] * len(lobes)
            bronchial += [np.array(d) * mirror for d in lobes]
        self.vessels = _trees(rng, np.array(roots), np.array(directions), (25, 32), (4.5, 6), 7)
        self.bronchi = _trees(rng, np.array(airways), np.array(bronchial), (22, 30), (3.5, 3.5), 3)

        # Nodules: small spheres at candidate points that lie well inside a lung.
        candidates = np.column_stack(
            [
                rng.choice([-1, 1], 30) * u(45, 125, 30),
                u(-60, 50, 30),
                u(-90, 40, 30),
                u(2.5, 7, 30),
            ]
        )
        x, y, z, r = candidates.T
        inside = (
            (self.cavity(x, y, z) < -r - 8)
            & (np.abs(x) > 45 + r)
            & (self.heart(x, y, z) > r + 10)
            & (self.above_diaphragm(x, y, z) > r + 5)
            & (self.apex_sd(x, y, z) < -r - 5)
        )
        self.nodules = candidates[inside][: rng.integers(0, 4)]

        # Texture: a sum of random plane waves, defined everywhere, independent of the grid.
        directions = rng.normal(size=(24, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        self.texture_waves = directions * (2 * np.pi / u(12, 40, (24, 1)))
        self.texture_phase = u(0, 2 * np.pi, 24)

    def section(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray, side: float, front: float, back: float
    ) -> np.ndarray:
        """Signed distance (mm, along rays from the centre) to the body outline moved inward by
        the given margins."""
        width, depth = self.breathing(z)
        x = x + 0.01  # keeps the centre off the singular point of the ray distance
        half_width = self.half_width * width - side
        extent = np.where(y < 0, self.front * depth - front, self.back - back)
        theta = np.arctan2(y, x)
        bulge = 1 + sum(a * np.cos(k * theta + p + w * z) for k, a, p, w in self.harmonics.tolist())
        power = self.power
        f = (np.abs(x / half_width) ** power + np.abs(y / extent) ** power) ** (1 / power)
        return np.hypot(x, y) * (1 - bulge / f)

    def breathing(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Factors on the body's width and front depth: slow variation of its outline along z."""
        width, depth = (
            1 + a * np.sin(k * z + p)
            for a, k, p in zip(
                self.wave_amplitude.tolist(),
                self.wave_number.tolist(),
                self.wave_phase.tolist(),
                strict=True,
            )
        )
        return width, depth

    def cavity(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Signed distance to the thoracic cavity, inside the ribs and wall muscles."""
        inset = self.cavity_inset
        return self.section(x, y, z, inset, inset, self.back - self.cavity_back)

    def spine_centre(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre of the vertebral bodies at height z: slight scoliosis and kyphosis."""
        x = self.spine_x + self.spine_tilt * z
        y = self.spine_y - (z + 30) ** 2 / (2 * self.kyphosis)
        return x, y

    def above_diaphragm(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Height above the diaphragm (mm): two domes, the right one higher."""
        right = self.dome_right - ((x + 55) ** 2 + (y - 5) ** 2) / (2 * self.dome_radius)
        left = self.dome_left - ((x - 60) ** 2 + (y - 5) ** 2) / (2 * self.dome_radius)
        return z - np.maximum(right, left)

    def apex_sd(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Height above the dome-shaped lung apices (mm)."""
        r2 = (np.abs(x) - 65) ** 2 + (y - 15) ** 2
        return z - (self.apex - r2 / 100)

    def heart(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Signed distance to the heart: ventricles and both atria."""
        ventricles = _ellipsoid(x, y, z, self.heart_centre, self.heart_semi, self.heart_frame)
        left = _ellipsoid(x, y, z, self.left_atrium, (30, 18, 22))
        right = _ellipsoid(x, y, z, self.right_atrium, (25, 25, 30))
        return np.minimum(ventricles, np.minimum(left, right))

    def chambers(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Signed distance to the blood pools inside the heart."""
        c, semi, frame = self.heart_centre, self.heart_semi, self.heart_frame
        left = _ellipsoid(
            x, y, z, c + frame[0] * 0.1 * semi[0] + [8, 6, 0], semi * [0.6, 0.45, 0.45], frame
        )
        right = _ellipsoid(x, y, z, c + np.array([-14, -16, 2]), semi * [0.5, 0.35, 0.45], frame)
        atria = np.minimum(
            _ellipsoid(x, y, z, self.left_atrium, (26, 14, 18)),
            _ellipsoid(x, y, z, self.right_atrium, (21, 21, 26)),
        )
        return np.minimum(np.minimum(left, right), atria)

    def texture(self, g: _Grid) -> np.ndarray:
        """Smooth random field of unit variance on the grid.

        A sum of plane waves is separable into in-plane and z factors, so it is one matrix
        product instead of a cosine per wave and voxel.
        """
        k, count = self.texture_waves, len(self.texture_phase)
        plane = k[:, 0, None, None] * g.x + k[:, 1, None, None] * g.y[0]
        along = k[:, 2, None] * g.z.ravel() + self.texture_phase[:, None]
        across = np.concatenate([np.cos(plane), np.sin(plane)]).reshape(2 * count, -1)
        field = np.concatenate([np.cos(along), -np.sin(along)]).T @ across
        return (field * np.sqrt(2 / count)).astype(np.float32).reshape(g.shape)


def _union(*sds: np.ndarray) -> np.ndarray:
    """Signed distance to the union of regions."""
    return functools.reduce(np.minimum, sds)


def _intersection(*sds: np.ndarray) -> np.ndarray:
    """Signed distance to the intersection of regions."""
    return functools.reduce(np.maximum, sds)


def _fill(grid: _Grid, hu: np.ndarray, sd: np.ndarray, value: float | np.ndarray) -> None:
    """Paint `value` over `hu` where sd < 0, blending by partial-volume coverage."""
    cover = grid.coverage(sd)
    hu += cover * (value - hu)


def _paint(p: _Patient, g: _Grid) -> np.ndarray:
    """CT numbers (HU) of the patient sampled on the grid, organs painted outside in."""
    x, y, z = g.x, g.y, g.z
    hu = np.full(g.shape, AIR, np.float32)
    texture = p.texture(g)

    # Table, body wall, cavity contents below and above the diaphragm.
    table_top = p.back + 8 - x**2 / 3000
    _fill(g, hu, np.maximum(np.abs(y - table_top - 4) - 4, np.abs(x) - 170), TABLE)
    _fill(g, hu, p.section(x, y, z, 0, 0, 0), FAT + 8 * texture)
    _fill(g, hu, p.section(x, y, z, p.fat, p.fat, p.fat), SOFT + 5 * texture)
    cavity = p.cavity(x, y, z)
    _fill(g, hu, cavity, FAT + 8 * texture)
    above = p.above_diaphragm(x, y, z)
    _fill(g, hu, np.maximum(cavity, above), LIVER + 4 * texture)

    # Lungs: the cavity above the diaphragm, below the apices, outside the mediastinum.
    heart = p.heart(x, y, z)
    great = g.tubes([p.aorta, *p.pulmonary, *p.veins, *p.arch_branches])
    airway, esophagus = g.tubes(p.airway), g.tubes([p.esophagus])
    sx, sy = p.spine_centre(z)
    vertebral_z = _wrap(z - p.phase, p.period)
    column = _ellipsoid(x, y, 0, (sx, sy, 0), (*p.vertebra, np.inf))
    canal_y = sy + p.vertebra[1] + 2 + p.canal
    spine_block = np.minimum(column - 3, np.maximum(np.abs(x - sx) - 24, np.abs(y - canal_y) - 30))
    mediastinum = _union(
        np.abs(x) - 3, heart - 5, great - 4, airway - 6, esophagus - 3, spine_block
    )
    lung = _intersection(cavity, -above, p.apex_sd(x, y, z), -mediastinum)
    _fill(g, hu, lung, LUNG + 20 * texture)
    _fill(g, hu, np.maximum(g.tubes(p.vessels), lung), BLOOD)
    bronchi = np.maximum(g.tubes(p.bronchi), cavity)
    _fill(g, hu, bronchi - 1.5, SOFT)
    _fill(g, hu, bronchi, AIR)
    if len(p.nodules):
        nodules = _union(
            *(
                np.sqrt((x - a) ** 2 + (y - b) ** 2 + (z - c) ** 2) - r
                for a, b, c, r in p.nodules.tolist()
            )
        )
        _fill(g, hu, np.maximum(nodules, lung), SOFT)

    # Mediastinum: heart, great vessels (optionally contrast-enhanced), airways, esophagus.
    _fill(g, hu, heart, SOFT + 10)
    _fill(g, hu, p.chambers(x, y, z), BLOOD + p.contrast)
    _fill(g, hu, great, BLOOD + p.contrast)
    _fill(g, hu, esophagus, SOFT)
    _fill(g, hu, airway - 2, CARTILAGE)
    _fill(g, hu, airway, AIR)

    # Spine: discs, vertebral bodies (cortical shell, cancellous core), arches, canal.
    vertebral_body = np.maximum(column, np.abs(vertebral_z) - (p.period - p.disc) / 2)
    _fill(g, hu, column, DISC)
    _fill(g, hu, vertebral_body, CORTICAL)
    _fill(g, hu, vertebral_body + 1.5, CANCELLOUS)
    ring = np.abs(np.sqrt((x - sx) ** 2 + (y - canal_y) ** 2) - p.canal - 3.5) - 3.5
    arch = np.maximum(ring, np.abs(vertebral_z - 1) - 0.33 * p.period)
    spinous_y = canal_y + p.canal + 5
    spinous = _intersection(
        np.abs(x - sx) - 3.5,
        np.abs(_wrap(z - p.phase + 0.7 * (y - spinous_y), p.period) - 1) - 5,
        np.abs(y - spinous_y - 9) - 9,
    )
    lateral = np.abs(x - sx)
    transverse = _intersection(
        np.abs(lateral - 20) - 10,
        np.abs(y - canal_y + 2 - 0.3 * (lateral - 10)) - 4.5,
        np.abs(vertebral_z) - 5.5,
    )
    posterior = _union(arch, spinous, transverse)
    _fill(g, hu, posterior, CORTICAL)
    _fill(g, hu, posterior + 1.5, CANCELLOUS)
    _fill(g, hu, np.sqrt((x - sx) ** 2 + (y - canal_y) ** 2) - p.canal, SOFT - 10)

    # Ribs: bands just outside the cavity, one per vertebra, dropping towards the front, so
    # each slice cuts several of them obliquely; cartilage joins them to the sternum.
    angle = np.arctan2(np.abs(x), y)  # from the posterior midline: 0 at the back, pi in front
    arc = 0.5 * (p.half_width + p.front) - p.cavity_inset
    drop = (np.cos(_RIB_START) - np.cos(angle)) / 2 * p.rib_drop
    slope = p.rib_drop * np.sin(angle) / (2 * arc)
    along = _wrap(z + drop - p.phase, p.period) / np.sqrt(1 + slope**2)
    radial = cavity - 4.5
    rib = (np.sqrt((radial / 3.5) ** 2 + (along / 5.5) ** 2) - 1) * 3.5
    bone = _intersection(rib, (_RIB_START - angle) * arc, (angle - p.rib_end) * arc)
    cartilage = _intersection(rib, (p.rib_end - angle) * arc, (angle - np.pi + 0.12) * arc)
    _fill(g, hu, cartilage, CARTILAGE)
    _fill(g, hu, bone, CORTICAL)
    _fill(g, hu, bone + 1.5, CANCELLOUS)

    # Sternum: a plate in front of the cavity, wider at the manubrium.
    sternum_y = p.cavity_inset - 7 - p.front * p.breathing(z)[1]
    half_width = np.where(z > p.sternum_top - 25, 24, 15)
    sternum = _intersection(
        (np.sqrt((x / half_width) ** 2 + ((y - sternum_y) / 6) ** 2) - 1) * 6,
        z - p.sternum_top,
        p.sternum_bottom - z,
    )
    _fill(g, hu, sternum, CORTICAL)
    _fill(g, hu, sternum + 1.5, CANCELLOUS)
    return hu
