"""Procedural 3D thorax CT phantoms: the embedded default data, no network needed.

No registry package ships real CT volumes, so the demo uses anatomy drawn in physical (mm)
coordinates and sampled on the requested grid: body with subcutaneous fat, lungs tapering to
the apex with branching vessel trees, heart, aortas, trachea and bronchi, vertebrae with discs,
oblique ribs, sternum and nodules, with HU values of real tissue. Every structure continues
smoothly across slices, so a 3D patch prior has genuine z-structure to learn, and every seed
draws a different patient. The same seed at another size gives the same anatomy.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

HU_WINDOW = (-1000.0, 1000.0)
"""The HU range mapped linearly to [0, 1]."""

AIR, LUNG, FAT, TISSUE, BLOOD, CONTRAST = -1000.0, -850.0, -100.0, 40.0, 55.0, 180.0
CANCELLOUS, CORTICAL, DISC, CSF = 250.0, 800.0, 90.0, 15.0


class _Grid:
    """Voxel centre coordinates in mm: z along slices, y anterior (-) to posterior (+), x."""

    def __init__(self, size: int, slices: int, thickness: float, fov: float, z_shift: float):
        pixel = fov / size
        axis = (np.arange(size) - (size - 1) / 2) * pixel
        z = (np.arange(slices) - (slices - 1) / 2) * thickness + z_shift
        self.z = z[:, None, None]
        self.y = axis[None, :, None]
        self.x = axis[None, None, :]
        self.pixel = pixel
        self.shape = (slices, size, size)


def _ellipse(grid: _Grid, cx, cy, ax, ay) -> np.ndarray:
    """Inside test of (possibly z-dependent) ellipses; arguments broadcast against z."""
    ax, ay = np.maximum(ax, 1e-6), np.maximum(ay, 1e-6)
    inside = ((grid.x - cx) / ax) ** 2 + ((grid.y - cy) / ay) ** 2 <= 1.0
    return np.broadcast_to(inside, grid.shape)


def _tube(grid: _Grid, cx, cy, radius) -> np.ndarray:
    return np.broadcast_to((grid.x - cx) ** 2 + (grid.y - cy) ** 2 <= radius**2, grid.shape)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    noise = gaussian_filter(rng.standard_normal(shape), sigma)
    return noise / (noise.std() + 1e-12)


def _vessel_tree(grid: _Grid, rng: np.random.Generator, side: float, body: dict) -> np.ndarray:
    """Branching vessels of one lung: parent curves from the hilum, children diverging in z."""
    mask = np.zeros(grid.shape, dtype=bool)
    for _ in range(rng.integers(5, 9)):
        x0 = side * body["a"] * rng.uniform(0.2, 0.35)
        y0 = body["b"] * rng.uniform(-0.25, 0.2)
        vx = side * rng.uniform(0.15, 0.9)
        vy = rng.uniform(-0.6, 0.6)
        wiggle, freq, phase = rng.uniform(2, 8), rng.uniform(0.02, 0.06), rng.uniform(0, 6.3)
        z0 = rng.uniform(-60, 60)
        dz = np.abs(grid.z - z0)
        cx = x0 + vx * dz + wiggle * np.sin(freq * grid.z + phase)
        cy = y0 + vy * dz + wiggle * np.cos(freq * grid.z + phase)
        radius = np.clip(rng.uniform(3.5, 5.5) - 0.03 * dz, 1.0, None)
        mask |= _tube(grid, cx, cy, radius)
        for _ in range(rng.integers(1, 4)):
            zb = z0 + rng.uniform(-40, 40)
            spread_x, spread_y = side * rng.uniform(0.1, 0.7), rng.uniform(-0.7, 0.7)
            past = np.clip((grid.z - zb) * np.sign(rng.uniform(-1, 1)), 0, None)
            bx = x0 + vx * np.abs(grid.z - z0) + spread_x * past
            by = y0 + vy * np.abs(grid.z - z0) + spread_y * past
            branch_radius = np.clip(rng.uniform(1.5, 3.0) - 0.02 * past, 0.8, None)
            mask |= _tube(grid, bx, by, branch_radius) & (past > 0)
    return mask


def thorax_phantom(
    size: int,
    slices: int,
    seed: int,
    slice_thickness_mm: float = 2.5,
    field_of_view_mm: float = 360.0,
) -> np.ndarray:
    """A thorax volume [slices, size, size], float32 in [0, 1] (HU window mapped linearly)."""
    rng = np.random.default_rng(seed)
    grid = _Grid(size, slices, slice_thickness_mm, field_of_view_mm, rng.uniform(-20, 20))
    z = grid.z
    body = {"a": rng.uniform(135, 165), "b": rng.uniform(95, 115)}
    a = body["a"] * (1 + 0.04 * np.sin(z / 70 + rng.uniform(0, 6.3)))
    b = body["b"] * (1 + 0.03 * np.cos(z / 60 + rng.uniform(0, 6.3)))
    fat = rng.uniform(8, 22)
    hu = np.full(grid.shape, AIR)
    hu[_ellipse(grid, 0, 5, a, b)] = FAT
    hu[_ellipse(grid, 0, 5, a - fat, b - fat * 0.8)] = TISSUE

    # Lungs: larger toward the diaphragm (low z) and tapering to the apex (high z).
    apex = rng.uniform(80, 120)
    taper = np.sqrt(np.clip(1 - ((z + 60) / (apex + 60)) ** 2, 0.05, 1.0))
    lungs = np.zeros_like(hu, dtype=bool)
    for side in (-1.0, 1.0):
        cx = side * body["a"] * rng.uniform(0.4, 0.48)
        ax = body["a"] * rng.uniform(0.27, 0.33) * taper
        ay = body["b"] * rng.uniform(0.58, 0.68) * taper
        lungs |= _ellipse(grid, cx, body["b"] * -0.02, ax, ay)

    # Heart in the lower chest, anterior-left; it indents the left lung.
    heart_z = rng.uniform(-70, -30)
    heart_r = rng.uniform(45, 60)
    heart_fall = np.sqrt(np.clip(1 - ((z - heart_z) / (heart_r * 1.1)) ** 2, 0, 1))
    heart = _ellipse(
        grid, body["a"] * 0.12, -body["b"] * 0.18, heart_r * heart_fall, heart_r * 0.8 * heart_fall
    )
    heart = heart & (heart_fall > 0)
    lungs &= ~_ellipse(
        grid,
        body["a"] * 0.12,
        -body["b"] * 0.18,
        (heart_r + 8) * heart_fall,
        (heart_r * 0.8 + 8) * heart_fall,
    )
    lung_texture = 25 * _smooth_noise(rng, hu.shape, 1.0)
    hu = np.where(lungs, LUNG + lung_texture, hu)
    hu[heart] = TISSUE + 10
    hu[
        heart
        & _ellipse(
            grid,
            body["a"] * 0.14,
            -body["b"] * 0.2,
            heart_r * 0.5 * heart_fall,
            heart_r * 0.4 * heart_fall,
        )
    ] = BLOOD

    contrast = rng.uniform() < 0.5
    vessel_hu = CONTRAST if contrast else BLOOD
    for side in (-1.0, 1.0):
        hu[_vessel_tree(grid, rng, side, body) & lungs] = vessel_hu - 20

    # Aortas: descending beside the spine through every slice, arch and ascending above the heart.
    spine_y = body["b"] * rng.uniform(0.5, 0.6)
    hu[_tube(grid, body["a"] * 0.14, spine_y - 32 + 3 * np.sin(z / 40), rng.uniform(10, 13))] = (
        vessel_hu
    )
    ascending = _tube(grid, body["a"] * 0.05, -body["b"] * 0.3, rng.uniform(13, 16))
    hu[ascending & (z > heart_z + heart_r * 0.6)] = vessel_hu

    # Trachea above the carina, two main bronchi diverging below it.
    carina = rng.uniform(10, 40)
    trachea_y = spine_y - 45
    above = z >= carina
    hu[_tube(grid, 0, trachea_y, 11) & above] = TISSUE
    hu[_tube(grid, 0, trachea_y, 8.5) & above] = AIR
    below = np.clip(carina - z, 0, None)
    for side in (-1.0, 1.0):
        bronchus = _tube(grid, side * (0.55 * below + 4), trachea_y + 0.1 * below, 6) & (~above)
        hu[bronchus & (below < 45)] = AIR

    # Spine: vertebral bodies (cortical rim, cancellous core) with discs between them.
    period = rng.uniform(24, 30)
    disc = np.broadcast_to(np.mod(z + rng.uniform(0, period), period) < 5, grid.shape)
    vertebra = _ellipse(grid, 0, spine_y, 17, 15)
    hu[vertebra] = np.where(disc[vertebra], DISC, CORTICAL)
    core = _ellipse(grid, 0, spine_y, 13, 11) & ~disc
    hu[core] = CANCELLOUS
    arch = _ellipse(grid, 0, spine_y + 27, 16, 13) & ~_ellipse(grid, 0, spine_y + 25, 8, 7)
    hu[arch & ~disc] = CORTICAL
    hu[_ellipse(grid, 0, spine_y + 25, 8, 7)] = CSF
    hu[_ellipse(grid, 0, spine_y + 45, 5, 10) & ~disc] = CORTICAL

    # Ribs: bony bands just inside the muscle wall, oblique (lower anteriorly), periodic in z.
    angle = np.arctan2(grid.y - 5, grid.x)
    rib_period, rib_phase = rng.uniform(22, 28), rng.uniform(0, 25)
    rib_z = np.mod(z + 18 * np.sin(angle) + rib_phase, rib_period)
    ring = _ellipse(grid, 0, 5, a - fat - 6, b - fat * 0.8 - 6) & ~_ellipse(
        grid, 0, 5, a - fat - 15, b - fat * 0.8 - 15
    )
    ribs = ring & (rib_z < 9) & (np.abs(grid.x) > 20)
    hu[ribs] = CORTICAL
    hu[ribs & (np.abs(rib_z - 4.5) < 2.5)] = CANCELLOUS + 100
    sternum = _ellipse(grid, 0, -(b - fat * 0.8) + 22, 14, 7) & (z > heart_z)
    hu[sternum] = CORTICAL * 0.7

    # Nodules: small soft-tissue spheres in the lungs.
    for _ in range(rng.integers(0, 4)):
        centre = (
            rng.uniform(-0.6, 0.6) * body["a"],
            rng.uniform(-0.4, 0.3) * body["b"],
            rng.uniform(-50, 50),
        )
        radius = rng.uniform(3, 8)
        sphere = (grid.x - centre[0]) ** 2 + (grid.y - centre[1]) ** 2 + (z - centre[2]) ** 2
        hu[(sphere <= radius**2) & lungs] = TISSUE

    soft = (hu > -200) & (hu < 150)
    hu = hu + np.where(soft, 12 * _smooth_noise(rng, hu.shape, 1.5), 0.0)
    pixel_sigma = 0.35 * max(1.0, 2.0 / grid.pixel)
    hu = gaussian_filter(hu, (0.3, pixel_sigma, pixel_sigma))
    low, high = HU_WINDOW
    return np.clip((hu - low) / (high - low), 0.0, 1.0).astype(np.float32)
