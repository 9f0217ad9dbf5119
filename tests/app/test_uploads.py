"""Uploads: sanitised names, a size limit, stored under NEAT_HOME/uploads, archives kept inside."""

from __future__ import annotations

import zipfile

import pytest

from app import config
from app.uploads import UploadError, sanitise_filename, store_upload


@pytest.mark.parametrize(
    "name, expected",
    [
        ("reviews.csv", "reviews.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.CSV", "evil.csv"),
        ("My Reviews (final).CSV", "My_Reviews_final.csv"),
        (".hidden.csv", "hidden.csv"),
        ("résumé données.jsonl", "resume_donnees.jsonl"),
        ("a\x00b;rm -rf.csv", "a_b_rm_-rf.csv"),
        ("...", "upload"),
        ("", "upload"),
        ("noextension", "noextension"),
        ("x." + "y" * 20, "x.yyyyyyyyyyyyyyyyyyyy"),
    ],
)
def test_sanitise_filename(name, expected):
    assert sanitise_filename(name) == expected


def test_sanitised_names_are_short_and_plain():
    name = sanitise_filename("a" * 500 + ".csv")
    assert len(name) <= 80 and name.endswith(".csv")
    assert "/" not in sanitise_filename("/abs/path/x.csv")


def test_store_upload_copies_under_neat_home_with_a_safe_unique_name(neat_home, reviews_csv):
    stored = store_upload(reviews_csv, "../My Reviews.CSV")
    assert stored.parent == neat_home / "uploads"
    assert stored.name.endswith("-My_Reviews.csv")
    assert stored.read_bytes() == reviews_csv.read_bytes()
    # the same content again is stored once; different content under the same name does not collide
    assert store_upload(reviews_csv, "My Reviews.csv") == stored
    other = reviews_csv.with_name("other.csv")
    other.write_text("text,label\na,1\n")
    assert store_upload(other, "My Reviews.csv") != stored


def test_upload_size_limit(neat_home, reviews_csv, monkeypatch):
    size = reviews_csv.stat().st_size
    with pytest.raises(UploadError, match="limit"):
        store_upload(reviews_csv, max_bytes=size - 1)
    assert store_upload(reviews_csv, max_bytes=size).exists()
    monkeypatch.setenv("NEAT_MAX_UPLOAD_MB", "0.0001")  # about 100 bytes
    assert config.max_upload_bytes() == int(0.0001 * 1024 * 1024)
    with pytest.raises(UploadError, match="NEAT_MAX_UPLOAD_MB"):
        store_upload(reviews_csv)
    assert not list((neat_home / "uploads").glob("*.part"))


@pytest.mark.parametrize("raw, expected_mb", [("", 200), ("50", 50), ("junk", 200), ("-3", 200)])
def test_max_upload_bytes_from_the_environment(monkeypatch, raw, expected_mb):
    monkeypatch.setenv("NEAT_MAX_UPLOAD_MB", raw)
    assert config.max_upload_bytes() == expected_mb * 1024 * 1024


def test_refused_types_and_empty_files(neat_home, tmp_path):
    script = tmp_path / "x.sh"
    script.write_text("echo hi")
    with pytest.raises(UploadError, match="not accepted"):
        store_upload(script)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UploadError, match="empty"):
        store_upload(empty)
    with pytest.raises(UploadError, match="did not arrive"):
        store_upload(tmp_path / "missing.csv")
    uploads = neat_home / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_zip_of_image_folders_is_unpacked(neat_home, tmp_path):
    archive = tmp_path / "digits.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("digits/zero/a.png", b"png-bytes")
        zf.writestr("digits/one/b.png", b"png-bytes")
    folder = store_upload(archive)
    assert folder.is_dir() and folder.name == "digits"
    assert store_upload(archive) == folder  # unpacked once
    assert sorted(p.name for p in folder.iterdir()) == ["one", "zero"]
    assert folder.resolve().is_relative_to((neat_home / "uploads").resolve())


def test_zip_slip_is_refused(neat_home, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../outside.txt", b"gotcha")
    with pytest.raises(UploadError, match="unsafe path"):
        store_upload(archive)
    assert not (tmp_path / "outside.txt").exists()
    assert not (neat_home / "outside.txt").exists()


def test_not_a_zip(neat_home, tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("not a zip")
    with pytest.raises(UploadError, match="zip"):
        store_upload(fake)


def test_archive_may_unpack_to_four_times_the_upload_limit_and_no_more(neat_home, tmp_path, monkeypatch):
    monkeypatch.setenv("NEAT_MAX_UPLOAD_MB", "0.01")  # about 10 kB
    limit = config.max_upload_bytes()

    def archive(name: str, unpacked_bytes: int):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("pictures/zero/a.png", b"\0" * (unpacked_bytes - 10))
            zf.writestr("pictures/one/b.png", b"\0" * 10)
        assert path.stat().st_size < limit  # the upload itself is well within the limit
        return path

    folder = store_upload(archive("fits.zip", 4 * limit))
    assert sum(p.stat().st_size for p in folder.rglob("*.png")) == 4 * limit
    with pytest.raises(UploadError, match="4x the upload limit"):
        store_upload(archive("bomb.zip", 4 * limit + 1))
    assert [p.name for p in (neat_home / "uploads").iterdir() if p.is_dir()] == [folder.parent.name]
