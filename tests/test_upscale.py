"""``sr-lib upscale``: every kind of user image round-trips with its layout and bit depth, Y-channel models change
only the luma, tiling changes nothing for tile-safe models, and bad input is one error line with no output file."""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import png
import pytest
import torch
from PIL import Image, ImageOps

from sr_lib.cli import main
from sr_lib.color import rgb_to_y, rgb_to_ycbcr
from sr_lib.degrade.bicubic import imresize
from sr_lib.errors import DataError
from sr_lib.evaluate import compose_forward, super_resolve
from sr_lib.imageio import NativeImage, read_image_native, write_image_native
from sr_lib.models import create_model, get_model_entry
from sr_lib.upscale import check_smallest_input, load_upscaler, plan_jobs, upscale_image

RNG = np.random.default_rng(7)


def smooth(h: int, w: int, channels: int, peak: int, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    """A smooth random image (bicubic/SR overshoot stays small) with values in [lo, hi] * peak."""
    noise = RNG.normal(size=(h, w, channels)).cumsum(0).cumsum(1)
    noise = (noise - noise.min()) / (np.ptp(noise) or 1.0)
    return np.floor((lo + (hi - lo) * noise) * peak + 0.5)


def ref_bicubic(samples: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic upscale of integer samples, rounded back to their dtype."""
    peak = np.iinfo(samples.dtype).max
    return np.clip(np.floor(imresize(samples.astype(np.float64), float(scale)) + 0.5), 0, peak).astype(samples.dtype)


def write_png16(path: Path, samples: np.ndarray, interlace: bool = False,
                transparent: tuple[int, ...] | None = None) -> None:
    """A 16-bit PNG of (H, W, C) samples written by pypng's value-level writer, not through sr_lib."""
    h, w, c = samples.shape
    writer = png.Writer(w, h, greyscale=c <= 2, alpha=c in (2, 4), bitdepth=16, interlace=interlace,
                        transparent=transparent)
    with open(path, "wb") as f:
        writer.write(f, samples.reshape(h, w * c).tolist())


def native(samples: np.ndarray) -> NativeImage:
    """(H, W, C) samples, C = 1..4, as a NativeImage (the last channel of 2 or 4 is alpha)."""
    c = samples.shape[2]
    return NativeImage(samples[..., 0] if c <= 2 else samples[..., :3], samples[..., -1] if c in (2, 4) else None)


def samples_of(image: NativeImage) -> np.ndarray:
    """The (H, W, C) samples of ``image``, alpha last."""
    planes = image.color[..., None] if image.is_grey else image.color
    return planes if image.alpha is None else np.concatenate([planes, image.alpha[..., None]], axis=2)


# ----------------------------------------------------------------------------------------------------------------
# 16-bit PNGs (PIL reduces 16-bit colour PNGs to 8 bits; sr_lib reads and writes them with pypng)

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16_bit_png_is_read_exactly(tmp_path: Path, channels: int, interlace: bool) -> None:
    img16 = RNG.integers(0, 65536, (11, 13, channels)).astype(np.uint16)
    write_png16(tmp_path / "x.png", img16, interlace)
    image = read_image_native(tmp_path / "x.png")
    assert image.mode == MODES[channels] + ";16"
    assert samples_of(image).dtype == np.uint16 and np.array_equal(samples_of(image), img16)
    # PIL, independently of pypng, reads 16-bit grey exactly and keeps the high bytes of 16-bit RGB
    if channels == 1:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), img16[..., 0])
    if channels == 3:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), (img16 >> 8).astype(np.uint8))


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_transparent_colour_becomes_alpha(tmp_path: Path, channels: int) -> None:
    img16 = RNG.integers(0, 65536, (8, 9, channels)).astype(np.uint16)
    key = tuple(int(v) for v in img16[2, 3])
    img16[5, :4] = key
    write_png16(tmp_path / "t.png", img16, transparent=key)
    image = read_image_native(tmp_path / "t.png")
    assert image.mode == MODES[channels + 1] + ";16" and np.array_equal(samples_of(image)[..., :channels], img16)
    expected = np.full(img16.shape[:2], 65535, np.uint16)
    expected[2, 3] = 0
    expected[5, :4] = 0
    assert np.array_equal(image.alpha, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_writer_round_trips(tmp_path: Path, dtype: type, channels: int) -> None:
    peak = np.iinfo(dtype).max
    noisy = RNG.integers(0, peak + 1, (9, 14, channels)).astype(dtype)
    for img in (noisy, smooth(40, 33, channels, peak).astype(dtype)):
        write_image_native(tmp_path / "x.png", native(img))
        back = read_image_native(tmp_path / "x.png")
        assert back.mode == MODES[channels] + (";16" if dtype == np.uint16 else "")
        assert np.array_equal(samples_of(back), img)
        pil = np.asarray(Image.open(tmp_path / "x.png"))  # a valid PNG for PIL too
        if dtype == np.uint8:
            assert np.array_equal(pil.reshape(img.shape), img)
        elif channels in (1, 3):
            assert np.array_equal(pil.reshape(img.shape), img if channels == 1 else (img >> 8).astype(np.uint8))


def recompressed(data: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """``data`` with the decompressed bytes of its (single) IDAT chunk passed through ``edit``, every CRC valid."""
    chunks = [(kind, zlib.compress(edit(zlib.decompress(body))) if kind == b"IDAT" else body)
              for kind, body in png.Reader(bytes=data).chunks()]
    out = io.BytesIO()
    png.write_chunks(out, chunks)
    return out.getvalue()


def flip_byte(data: bytes) -> bytes:
    return data[:-20] + bytes([data[-20] ^ 0xFF]) + data[-19:]  # inside the IDAT data: the CRC no longer fits


def bad_filter_type(data: bytes) -> bytes:
    return recompressed(data, lambda raw: b"\x07" + raw[1:])  # filter types are 0..4


def missing_last_row(data: bytes) -> bytes:  # PIL decodes this without complaint
    return recompressed(data, lambda raw: raw[: -(1 + 5 * 3 * 2)])  # filter byte + 5 RGB pixels of 2-byte samples


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bad_end_crc(data: bytes) -> bytes:  # PIL does not check the IEND chunk
    return data[:-1] + bytes([data[-1] ^ 1])


CORRUPTIONS = [  # (corruption, a fragment of the error line)
    (flip_byte, "bad.png"), (bad_filter_type, "bad.png"), (truncated, "bad.png"),
    (missing_last_row, "bad.png: PNG image data holds 3 of 4 rows"),
    (bad_end_crc, "bad.png: ChunkError: Checksum error in IEND chunk"),
]


@pytest.mark.parametrize("corrupt,fragment", CORRUPTIONS, ids=[c.__name__ for c, _ in CORRUPTIONS])
def test_corrupt_16_bit_png_is_one_data_error(tmp_path: Path, corrupt: Callable[[bytes], bytes], fragment: str) -> None:
    write_image_native(tmp_path / "good.png", NativeImage(RNG.integers(0, 65536, (4, 5, 3)).astype(np.uint16)))
    (tmp_path / "bad.png").write_bytes(corrupt((tmp_path / "good.png").read_bytes()))
    with pytest.raises(DataError) as info:
        read_image_native(tmp_path / "bad.png")
    assert fragment in str(info.value) and len(str(info.value).splitlines()) == 1, info.value


# ----------------------------------------------------------------------------------------------------------------
# Reading and writing users' images


def image_zoo(folder: Path) -> dict[str, tuple[str, np.ndarray]]:
    """One file of every supported kind in ``folder``: name -> (mode read back, expected samples (H, W, C))."""
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    rgb8 = smooth(10, 13, 3, 255).astype(np.uint8)
    rgba8 = smooth(10, 13, 4, 255).astype(np.uint8)
    rgb16 = smooth(10, 13, 3, 65535).astype(np.uint16)
    rgba16 = smooth(9, 12, 4, 65535).astype(np.uint16)
    grey16 = smooth(11, 7, 1, 65535).astype(np.uint16)
    zoo = {
        "rgb8.png": ("RGB", rgb8), "rgba8.png": ("RGBA", rgba8), "grey8.png": ("L", rgb8[..., :1]),
        "la8.png": ("LA", rgba8[..., 2:]), "grey16.png": ("L;16", grey16), "rgb16.png": ("RGB;16", rgb16),
        "rgba16.png": ("RGBA;16", rgba16), "rgb16_tiff.tif": ("RGB;16", rgb16),
    }
    for name, (_, samples) in zoo.items():
        if name.endswith(".tif"):
            tifffile.imwrite(folder / name, samples, photometric="rgb")
        elif samples.dtype == np.uint16 and samples.shape[2] > 1:
            write_png16(folder / name, samples)
        else:
            Image.fromarray(samples[..., 0] if samples.shape[2] == 1 else samples).save(folder / name)
    palette = Image.fromarray(rgb8).quantize(16)
    palette.save(folder / "palette.png")
    zoo["palette.png"] = ("RGB", np.asarray(palette.convert("RGB")))
    palette.save(folder / "palette_t.png", transparency=3)
    zoo["palette_t.png"] = ("RGBA", np.asarray(Image.open(folder / "palette_t.png").convert("RGBA")))
    Image.fromarray(rgb8).save(folder / "photo.jpg", quality=90)
    zoo["photo.jpg"] = ("RGB", np.asarray(Image.open(folder / "photo.jpg")))
    Image.fromarray(rgb8[..., 1]).save(folder / "grey.jpg", quality=90)
    zoo["grey.jpg"] = ("L", np.asarray(Image.open(folder / "grey.jpg"))[..., None])
    return zoo


def test_reader_keeps_bit_depth_alpha_and_grey(tmp_path: Path) -> None:
    zoo = image_zoo(tmp_path)
    assert np.asarray(Image.open(tmp_path / "palette_t.png").convert("RGBA"))[..., 3].min() == 0  # really transparent
    for name, (mode, samples) in zoo.items():
        image = read_image_native(tmp_path / name)
        assert image.mode == mode, name
        got = samples_of(image)
        assert got.dtype == samples.dtype and np.array_equal(got, samples.reshape(got.shape)), name


def test_reader_applies_exif_orientation_like_pil(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (6, 9, 3)).astype(np.uint8)
    for orientation in range(1, 9):
        im = Image.fromarray(rgb)
        exif = im.getexif()
        exif[0x0112] = orientation
        im.save(tmp_path / "o.png", exif=exif)
        expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB"))
        assert np.array_equal(read_image_native(tmp_path / "o.png").color, expected), orientation


def test_reader_rejects_float_samples(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match="float"):
        read_image_native(tmp_path / "f.tif")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_writer_keeps_alpha_and_icc_profile(tmp_path: Path, dtype: type) -> None:
    samples = RNG.integers(0, np.iinfo(dtype).max + 1, (5, 6, 4)).astype(dtype)
    icc = b"not a real profile, carried byte for byte"
    write_image_native(tmp_path / "x.png", NativeImage(samples[..., :3], samples[..., 3], icc))
    back = read_image_native(tmp_path / "x.png")
    assert back.mode == ("RGBA" if dtype == np.uint8 else "RGBA;16") and back.icc_profile == icc
    assert np.array_equal(back.color, samples[..., :3]) and np.array_equal(back.alpha, samples[..., 3])
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary file left


# ----------------------------------------------------------------------------------------------------------------
# The command


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["upscale", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_failed_cleanly(code: int, err: str, out_dir: Path, *fragments: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sr-lib: error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir()), list(out_dir.iterdir())


def test_every_kind_round_trips_through_bicubic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zoo = image_zoo(tmp_path / "in")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, str(tmp_path / "in"), "--model", "bicubic", "--scale", "2", "--out", str(out))
    assert code == 0, err
    assert f"wrote {len(zoo)} images to {out}" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{Path(n).stem}_x2_bicubic.png" for n in zoo)
    for name, (mode, samples) in zoo.items():
        result = read_image_native(out / f"{Path(name).stem}_x2_bicubic.png")
        assert result.mode == mode, name
        assert result.color.shape[:2] == (2 * samples.shape[0], 2 * samples.shape[1]), name
        got = samples_of(result)
        # bicubic is linear: every channel (alpha included) is the MATLAB bicubic of the input's, in its own depth;
        # a 16-bit image computed through 8 bits would be off by up to 128 here
        diff = np.abs(got.astype(np.int64) - ref_bicubic(samples, 2).astype(np.int64))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.99, name


def test_y_model_changes_only_the_luma(tmp_path: Path, capsys: pytest.CaptureFixture[str], weights_dir: Path) -> None:
    rgb = np.concatenate([smooth(12, 14, 1, 255, 0.3, 0.7)] * 3, axis=2) + smooth(12, 14, 3, 255, -0.08, 0.08)
    rgb = rgb.astype(np.uint8)  # low saturation: the SR colours stay in gamut (nothing clipped)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    code, _, err = run_cli(capsys, str(tmp_path / "c.png"), "--model", "srcnn", "--scale", "3",
                           "--weights-dir", str(weights_dir), "--out", str(tmp_path / "out"))
    assert code == 0, err
    result = read_image_native(tmp_path / "out" / "c_x3_srcnn.png")
    assert result.mode == "RGB" and result.color.shape == (36, 42, 3)

    entry, net, _ = load_upscaler("srcnn", 3, weights_dir=weights_dir, device="cpu")
    y_sr = super_resolve(entry, net, rgb, 3, quantize_output=False)  # what evaluation measures
    # RGB rounding moves Y by at most 0.5 * (65.481 + 128.553 + 24.966) / 255 = 0.43, Cb/Cr by at most 0.44
    assert np.abs(rgb_to_y(result.color, "float") - y_sr).max() <= 0.44
    chroma = imresize(rgb_to_ycbcr(rgb)[..., 1:], 3.0)
    assert np.abs(rgb_to_ycbcr(result.color)[..., 1:] - chroma).max() <= 0.44
    assert np.abs(rgb_to_y(result.color, "float") - imresize(rgb_to_y(rgb), 3.0)).max() > 2  # the network did work


def test_y_model_on_grey_and_16_bit(weights_dir: Path) -> None:
    entry, net, _ = load_upscaler("srcnn", 2, weights_dir=weights_dir, device="cpu")
    grey8 = smooth(10, 12, 1, 255)[..., 0].astype(np.uint8)
    result = upscale_image(NativeImage(grey8), entry, net, 2)
    sr = super_resolve(entry, net, grey8, 2, quantize_output=False)
    assert result.mode == "L" and np.array_equal(result.color, np.floor(sr + 0.5).astype(np.uint8))

    grey16 = smooth(10, 12, 1, 65535)[..., 0].astype(np.uint16)
    result = upscale_image(NativeImage(grey16), entry, net, 2)
    sr = super_resolve(entry, net, grey16 * (255.0 / 65535), 2, quantize_output=False)
    assert result.mode == "L;16"
    assert np.abs(result.color.astype(np.int64) - np.floor(sr * (65535 / 255.0) + 0.5)).max() <= 1


def test_tiled_equals_whole_image_for_a_tile_safe_model(weights_dir: Path) -> None:
    entry, net, _ = load_upscaler("srcnn", 3, weights_dir=weights_dir, device="cpu")
    assert entry.tile_safe
    image = NativeImage(smooth(15, 19, 3, 255).astype(np.uint8))
    whole = upscale_image(image, entry, net, 3)
    tiled = upscale_image(image, entry, net, 3, forward=compose_forward(entry, 3, tile=16, tile_overlap=16))
    diff = np.abs(whole.color.astype(int) - tiled.color.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999  # float32 summation order only


def test_self_ensemble_runs_the_eight_transforms(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  weights_dir: Path) -> None:
    Image.fromarray(smooth(12, 10, 3, 255).astype(np.uint8)).save(tmp_path / "a.png")
    outs = []
    for extra in ([], ["--self-ensemble"]):
        out = tmp_path / f"out{len(outs)}"
        code, _, err = run_cli(capsys, str(tmp_path / "a.png"), "--model", "srcnn", "--scale", "2",
                               "--weights-dir", str(weights_dir), "--out", str(out), *extra)
        assert code == 0, err
        outs.append(read_image_native(out / "a_x2_srcnn.png").color.astype(int))
    assert 0 < np.abs(outs[0] - outs[1]).mean() < 2


def test_existing_outputs_are_kept_unless_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(smooth(8, 8, 3, 255).astype(np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x2_bicubic.png").write_bytes(b"mine")
    code, _, err = run_cli(capsys, str(tmp_path / "a.png"), "--model", "bicubic", "--scale", "2", "--out", str(out))
    assert code == 2 and "exists; pass --overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "a_x2_bicubic.png").read_bytes() == b"mine"
    code, _, err = run_cli(capsys, str(tmp_path / "a.png"), "--model", "bicubic", "--scale", "2", "--out", str(out),
                           "--overwrite")
    assert code == 0, err
    assert read_image_native(out / "a_x2_bicubic.png").color.shape == (16, 16, 3)
    assert sorted(p.name for p in out.iterdir()) == ["a_x2_bicubic.png"]


def test_output_never_replaces_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a.png", "a_x2_bicubic.png"):
        Image.fromarray(smooth(8, 8, 3, 255).astype(np.uint8)).save(tmp_path / name)
    before = (tmp_path / "a_x2_bicubic.png").read_bytes()
    code, _, err = run_cli(capsys, str(tmp_path), "--model", "bicubic", "--scale", "2", "--out", str(tmp_path),
                           "--overwrite")
    assert code == 2 and "would overwrite the input" in err
    assert (tmp_path / "a_x2_bicubic.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_x2_bicubic.png"]


def test_corrupt_image_among_good_ones_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "c.png"):
        Image.fromarray(smooth(8, 8, 3, 255).astype(np.uint8)).save(src / name)
    Image.fromarray(smooth(64, 64, 3, 255).astype(np.uint8)).save(src / "b.jpg")
    (src / "b.jpg").write_bytes((src / "b.jpg").read_bytes()[:300])  # truncated JPEG
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, str(src), "--model", "bicubic", "--scale", "2", "--out", str(out))
    assert_failed_cleanly(code, err, out, "b.jpg")


def test_wrong_shape_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(smooth(8, 8, 3, 255).astype(np.uint8)).save(tmp_path / "a.png")
    torch.save(create_model("srcnn", 3, tiny=True).state_dict(), tmp_path / "tiny.pt")  # random init, 8/4 filters
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, str(tmp_path / "a.png"), "--model", "srcnn", "--scale", "3",
                           "--weights", str(tmp_path / "tiny.pt"), "--out", str(out))
    assert_failed_cleanly(code, err, out, "tiny.pt does not fit SRCNN", "wrong shape")


def test_missing_published_weights_say_how_to_get_them(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    Image.fromarray(smooth(8, 8, 3, 255).astype(np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, str(tmp_path / "a.png"), "--model", "srcnn", "--scale", "3", "--out", str(out))
    assert_failed_cleanly(code, err, out, "sr-lib weights fetch srcnn --scale 3", "--weights")


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["{img}", "--model", "srcnn", "--scale", "5"], ["no preset for x5"]),
        (["{img}", "--model", "bicubc", "--scale", "2"], ["unknown model 'bicubc'"]),
        (["{dir}/missing.png", "--model", "bicubic", "--scale", "2"], ["input not found", "missing.png"]),
        (["{dir}/empty", "--model", "bicubic", "--scale", "2"], ["no images in"]),
        (["{img}", "--model", "bicubic", "--scale", "2", "--tile", "4"], ["--tile 4 is too small"]),
        (["{img}", "{dir}/a.jpg", "--model", "bicubic", "--scale", "2"], ["would both be written to"]),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                               fragments: list[str]) -> None:
    Image.fromarray(smooth(8, 8, 3, 255).astype(np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(smooth(8, 8, 3, 255).astype(np.uint8)).save(tmp_path / "a.jpg")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    filled = [a.format(img=tmp_path / "a.png", dir=tmp_path) for a in args]
    code, _, err = run_cli(capsys, *filled, "--out", str(out))
    assert_failed_cleanly(code, err, out, *fragments)


def test_image_too_small_for_the_model_fails_before_writing(tmp_path: Path) -> None:
    Image.fromarray(smooth(3, 40, 3, 255).astype(np.uint8)).save(tmp_path / "strip.png")
    Image.fromarray(smooth(30, 30, 3, 255).astype(np.uint8)).save(tmp_path / "big.png")
    jobs = plan_jobs([tmp_path], "san", 2, tmp_path / "out")
    entry = get_model_entry("san")
    net = create_model("san", 2, tiny=True).eval()  # SAN's region non-local needs 4x4 feature maps
    with pytest.raises(DataError, match=r"strip.png \(40x3\) is too small for san x2"):
        check_smallest_input(jobs, entry, net, 2)
    check_smallest_input(jobs[:1], entry, net, 2)  # big.png alone is fine
    assert not (tmp_path / "out").exists()
