"""Downloads through the real tcia_utils against a fake NBIA v4 server on loopback.

tcia_utils cannot be given a base URL (``api_url`` only accepts "nbia" or "nlst" and the host is
hard-coded), but every URL it requests is built by ``tcia_utils.nbia.setApiUrl``; the tests
replace that one function so the real ``downloadSeries`` (threads, zip extraction, logged
failures) talks to a server answering ``getImageWithMD5Hash`` as NBIA does.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from dicom_factory import write_series

from dblend.data.dicom import read_series
from dblend.data.pins import load_pins
from dblend.data.tcia import CHECKSUMS, MARKER, download_series, read_manifest
from dblend.errors import ConfigError, DataFileError

ROOT = Path(__file__).resolve().parents[1]
API = "/nbia-api/services/v4/"
A, B, C = "1.2.826.0.1.1001", "1.2.826.0.1.1002", "1.2.826.0.1.1003"


class FakeNbia:
    """Series archives by UID, how to misbehave per UID, and the UIDs requested so far."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.archives: dict[str, bytes] = {}
        self.faults: dict[str, str] = {}
        self.requested: list[str] = []
        self.lock = threading.Lock()

    def add(self, uid: str, count: int, fault: str | None = None) -> None:
        """Serve a series of ``count`` real DICOM files as NBIA does, with md5hashes.csv."""
        files = write_series(self.folder / uid, count, series_uid=uid)
        buffer = io.BytesIO()
        rows = ["Filename,MD5Hash"]
        with zipfile.ZipFile(buffer, "w") as archive:
            for index, path in enumerate(files):
                name = f"1-{index + 1:03d}.dcm"
                data = path.read_bytes()
                archive.writestr(name, data)
                md5 = hashlib.md5(data if fault != "bad_md5" else b"other").hexdigest()
                rows.append(f"{name},{md5}")
            archive.writestr(CHECKSUMS, "\n".join(rows) + "\n")
        self.archives[uid] = buffer.getvalue()
        if fault:
            self.faults[uid] = fault


@pytest.fixture
def nbia(tmp_path, monkeypatch) -> Iterator[FakeNbia]:
    from tcia_utils import nbia as tcia_nbia

    fake = FakeNbia(tmp_path / "server")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            uid = parse_qs(url.query).get("SeriesInstanceUID", [""])[0]
            with fake.lock:
                fake.requested.append(uid)
            fault = fake.faults.get(uid)
            if url.path != API + "getImageWithMD5Hash" or uid not in fake.archives:
                self.send_error(404)
            elif fault == "empty":  # no images, only the (empty) checksum list
                self._send(_empty_archive())
            elif fault == "drop":  # the connection breaks half-way through the archive
                body = fake.archives[uid]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            else:
                self._send(fake.archives[uid])

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}{API}"
    monkeypatch.setattr(tcia_nbia, "setApiUrl", lambda endpoint, api_url="": base)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def _empty_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(CHECKSUMS, "Filename,MD5Hash\n")
    return buffer.getvalue()


def test_download_verifies_marks_and_gives_readable_series(nbia, tmp_path):
    nbia.add(A, 4)
    nbia.add(B, 3)
    root = tmp_path / "lidc"
    folders = download_series([A, B], root, expected_images={A: 4})
    assert folders == {A: root / A, B: root / B}
    assert sorted(nbia.requested) == [A, B]
    for uid in (A, B):
        assert (root / uid / MARKER).is_file()
    series = read_series(root / A)
    assert series.series_uid == A and len(series.files) == 4


def test_complete_series_are_skipped_and_unfinished_ones_fetched_again(nbia, tmp_path):
    nbia.add(A, 3)
    nbia.add(B, 3)
    root = tmp_path / "lidc"
    download_series([A, B], root)
    # B as a killed job leaves it: some files extracted, no marker yet.
    (root / B / MARKER).unlink()
    (root / B / "1-002.dcm").unlink()
    (root / B / "stale.part").write_bytes(b"half")
    nbia.requested.clear()
    download_series([A, B], root)
    assert nbia.requested == [B]
    assert (root / B / MARKER).is_file() and (root / B / "1-002.dcm").is_file()
    assert not (root / B / "stale.part").exists()
    nbia.requested.clear()
    download_series([A, B], root)
    assert nbia.requested == []


def test_interrupted_transfer_is_named_then_resumed(nbia, tmp_path):
    nbia.add(A, 3)
    nbia.add(B, 3, fault="drop")
    root = tmp_path / "lidc"
    with pytest.raises(DataFileError, match=rf"1 of 2 series missing.*\n  {B}: .*not downloaded"):
        download_series([A, B], root)
    assert (root / A / MARKER).is_file() and not (root / B / MARKER).exists()
    del nbia.faults[B]
    nbia.requested.clear()
    download_series([A, B], root)
    assert nbia.requested == [B] and (root / B / MARKER).is_file()


def test_series_that_stay_missing_or_fail_checks_are_all_listed(nbia, tmp_path):
    nbia.add(A, 3, fault="empty")
    nbia.add(B, 3, fault="bad_md5")
    nbia.add(C, 3)
    missing = "1.2.826.0.1.1999"  # unknown to the server: 404
    root = tmp_path / "lidc"
    with pytest.raises(DataFileError) as caught:
        download_series([A, B, C, missing], root, expected_images={C: 5})
    message = str(caught.value)
    assert "4 of 4 series missing or incomplete" in message
    assert f"{A}: {root / A / CHECKSUMS}: lists no images" in message
    assert f"{B}: {root / B / '1-001.dcm'}: MD5" in message
    assert f"{C}: {root / C}: 3 images, expected 5 (pinned)" in message
    assert f"{missing}: {root / missing}: not downloaded" in message
    assert not list(root.glob(f"*/{MARKER}"))


def test_bad_uids_are_refused_before_any_request(nbia, tmp_path):
    with pytest.raises(ConfigError, match=r"series UID '\.\./etc'"):
        download_series(["../etc"], tmp_path)
    assert nbia.requested == []


def test_manifest_lists_its_series(tmp_path):
    manifest = tmp_path / "aapm.tcia"
    header = [
        "downloadServerUrl=https://nbia.cancerimagingarchive.net/nbia-download/servlet/Download",
        "includeAnnotation=true",
        "noOfrRetry=4",
        "databasketId=manifest-1.tcia",
        "manifestVersion=3.0",
        "ListOfSeriesToDownload=",
    ]
    manifest.write_text("\n".join([*header, A, B, ""]))
    assert read_manifest(manifest) == [A, B]
    manifest.write_text("\n".join([*header, A, "L067"]))
    with pytest.raises(DataFileError, match=r"aapm\.tcia: line 8: 'L067' is not a series UID"):
        read_manifest(manifest)
    manifest.write_text(f"{A}\n")
    with pytest.raises(DataFileError, match="not a TCIA manifest"):
        read_manifest(manifest)


def test_pinned_lidc_series_are_well_formed():
    pins = load_pins(ROOT / "config" / "pins" / "lidc_series.yaml")
    assert pins.collection == "LIDC-IDRI"
    assert len(pins.split.train) >= 8 and len(pins.split.test) == 1
    uids = [pin.series_uid for pin in pins.patients.values()]
    assert len(set(uids)) == len(uids)
    assert all(uid.startswith("1.3.6.1.4.1.14519.5.2.1.6279.6001.") for uid in uids)


def test_pins_refuse_a_patient_on_both_sides(tmp_path):
    path = tmp_path / "pins.yaml"
    path.write_text(
        "collection: X\n"
        f"patients:\n  P1: {{series_uid: '{A}', images: null}}\n"
        f"  P2: {{series_uid: '{B}', images: 3}}\n"
        "split: {train: [P1, P2], test: [P2]}\n"
    )
    with pytest.raises(ConfigError, match="patient P2 is listed in both train and test"):
        load_pins(path)
