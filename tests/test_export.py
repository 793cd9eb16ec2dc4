"""NIfTI export: a DICOM series' spacing, orientation and position survive the trip through
preprocessing and export, nibabel reads the same HU, and reconstructions find their volume."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from dicom_factory import write_series

from dblend.data.preprocess import PreprocessSpec, preprocess_series
from dblend.errors import DataFileError
from dblend.export import export_nifti
from dblend.io import read_array, write_array

CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
"""A coronal series: rows run to the patient's left, columns to the feet, slices to the back.
Any orientation but axial checks that the affine follows the DICOM's."""
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def exported(tmp_path, *, orientation, size, rows=8, step=2.0, origin=(-20.0, 30.0, 5.0)):
    write_series(
        tmp_path / "series", 4, rows=rows, cols=rows, orientation=orientation, step=step,
        origin=origin,
    )  # fmt: skip
    volume_path = tmp_path / "volume.h5"
    preprocess_series(tmp_path / "series", volume_path, PreprocessSpec(size=size))
    out = tmp_path / "volume.nii.gz"
    export_nifti(volume_path, out)
    return volume_path, nib.load(out)


@pytest.mark.parametrize("orientation", [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), CORONAL])
def test_every_voxel_sits_where_its_dicom_pixel_does(tmp_path, orientation):
    _, image = exported(tmp_path, orientation=orientation, size=8)
    row_direction, column_direction = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row_direction, column_direction)
    first = np.array([-20.0, 30.0, 5.0])
    for column, row, slice_ in [(0, 0, 0), (3, 2, 1), (7, 7, 3)]:
        # pixel (row, column) of DICOM file `slice_`: IPP + column * dx * row direction + ...
        lps = first + slice_ * 2.0 * normal + column * 0.7 * row_direction
        lps += row * 0.7 * column_direction
        ras = nib.affines.apply_affine(image.affine, [column, row, slice_])
        np.testing.assert_allclose(ras, LPS_TO_RAS @ lps, atol=1e-4)
    np.testing.assert_allclose(image.header.get_zooms(), (0.7, 0.7, 2.0), rtol=1e-6)
    assert int(image.header["qform_code"]) == 1 and int(image.header["sform_code"]) == 1


def test_axial_series_reads_as_left_posterior_superior_in_hu(tmp_path):
    volume_path, image = exported(tmp_path, orientation=(1, 0, 0, 0, 1, 0), size=8)
    assert nib.aff2axcodes(image.affine) == ("L", "P", "S")
    volume, attrs = read_array(volume_path)
    low, high = attrs["hu_window"]
    hu = np.asarray(image.dataobj).transpose(2, 1, 0)
    np.testing.assert_allclose(hu, low + volume * (high - low), atol=1e-3)
    # slice 2's top-left pixel holds -1000 + 100 * 2 HU (tests/dicom_factory.py: slice_hu)
    assert image.get_fdata()[0, 0, 2] == pytest.approx(-800.0, abs=0.5)


def test_resampled_slices_keep_the_patient_position(tmp_path):
    """16 x 16 pixels of 0.7 mm to 8 x 8 of 1.4 mm: the first voxel's centre moves by half a
    native pixel along rows and columns, and the field of view stays where it was."""
    _, image = exported(tmp_path, orientation=(1, 0, 0, 0, 1, 0), size=8, rows=16)
    ras = nib.affines.apply_affine(image.affine, [0, 0, 0])
    np.testing.assert_allclose(ras, LPS_TO_RAS @ np.array([-20.0 + 0.35, 30.0 + 0.35, 5.0]))
    np.testing.assert_allclose(image.header.get_zooms(), (1.4, 1.4, 2.0), rtol=1e-6)


def test_a_reconstruction_takes_the_grid_of_the_volume_its_sinogram_came_from(tmp_path):
    volume_path, volume_image = exported(tmp_path, orientation=CORONAL, size=8)
    sinogram = tmp_path / "sinogram.h5"
    write_array(sinogram, np.zeros((4, 3, 12)), {"volume": str(volume_path)})
    recon = tmp_path / "recon.h5"
    estimate = np.full((4, 8, 8), 0.5, dtype=np.float32)
    write_array(recon, estimate, {"method": "dds", "sinogram": str(sinogram)})
    export_nifti(recon, tmp_path / "recon.nii")
    image = nib.load(tmp_path / "recon.nii")
    np.testing.assert_allclose(image.affine, volume_image.affine)
    low, high = read_array(volume_path)[1]["hu_window"]
    np.testing.assert_allclose(image.get_fdata(), (low + high) / 2, atol=1e-3)


def test_a_file_with_no_way_to_its_volume_is_refused_in_one_line(tmp_path):
    orphan = tmp_path / "orphan.h5"
    write_array(orphan, np.zeros((2, 4, 4)), {"method": "fbp"})
    with pytest.raises(DataFileError, match="no voxel spacing recorded") as caught:
        export_nifti(orphan, tmp_path / "out.nii")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.nii").exists()
