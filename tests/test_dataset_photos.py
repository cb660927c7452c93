"""Preprocessing real photos into what the model sees: on the team's photos in ../shared/photos
and on images made in memory (EXIF orientation, transparency), asserting on the 28x28 arrays."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dataset import photos
from tests.photo_files import encoded, item_on_white, shared_photos


def _open(relative: str) -> Image.Image:
    return photos.open_photo(shared_photos() / relative)


def _extent(array: np.ndarray, threshold: int = 40) -> tuple[int, int, int, int]:
    """(first row, last row, first column, last column) of the lit pixels."""
    lit = array > threshold
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def _centre_of_mass(array: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(array.shape)
    weight = array.astype(float)
    return (ys * weight).sum() / weight.sum(), (xs * weight).sum() / weight.sum()


def test_a_dark_dress_on_a_light_background_becomes_light_on_black():
    image = _open("JockNessMonster__Neural-Network/dress_1.jpeg")
    out = photos.preprocess(image)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out[12:16, 12:16].mean() > 150  # the dress, now light
    assert out[:, :4].max() < 20 and out[:, -4:].max() < 20  # beside it: black, as in Fashion-MNIST
    assert out.max() == 255  # stretched to the full range, as Fashion-MNIST's images are
    # The notebook's plain way keeps the light background: the very thing the model never saw.
    plain = photos.plain_preprocess(image)
    assert plain[:, :4].mean() > 200 and plain[12:16, 12:16].mean() < 100


def test_a_tall_item_is_cropped_to_fill_the_height_and_centred():
    out = photos.preprocess(_open("JockNessMonster__Neural-Network/trouser_3.jpg"))
    top, bottom, left, right = _extent(out)
    assert top <= 1 and bottom >= 26  # the longest side spans the frame, like Fashion-MNIST's
    assert right - left < 16  # trousers stay narrow: the aspect ratio is kept
    assert abs((left + right) / 2 - 13.5) <= 1.5
    assert out[:, :5].max() < 20 and out[:, -5:].max() < 20


def test_a_wide_item_fills_the_width_and_sits_in_the_middle():
    out = photos.preprocess(_open("KorotkinEvgeny__keras-usage/ankle_boot_1.jpg"))
    top, bottom, left, right = _extent(out)
    assert left <= 1 and right >= 26 and bottom - top < 26
    assert abs(_centre_of_mass(out)[0] - 13.5) < 3
    assert out[:2].max() < 20 and out[-2:].max() < 20


def test_a_transparent_png_is_cut_out_along_its_alpha_channel():
    image = _open("Rohith04MVK__Fashion-MNIST/tshirt_top_1.png")
    assert image.mode == "RGBA"
    out = photos.preprocess(image)
    # The silhouette the alpha channel draws, cropped and fitted the same way.
    alpha = np.asarray(image.getchannel("A")) > 127
    top, left, bottom, right = photos.bounding_box(alpha)
    expected = photos.fit_to_frame(alpha[top:bottom, left:right].astype(np.float32)) > 0.5
    lit = out > 40
    assert (lit & expected).sum() / (lit | expected).sum() > 0.85
    assert out[~expected].mean() < 25


def test_transparency_over_black_pixels_is_not_taken_for_the_item():
    # Transparent pixels often hold black; naive grayscale would show a black frame with the
    # item invisible inside. The item here is white, its transparent surround black.
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((255, 255, 255, 255), (30, 10, 70, 90))
    out = photos.preprocess(image)
    top, bottom, left, right = _extent(out)
    assert (top, bottom) == (0, 27) and 6 <= left <= 8 and 19 <= right <= 21  # 40x80, fitted
    assert out[:, :5].max() == 0 and out[5:23, 10:18].min() > 40


def test_a_photo_on_a_canvas_padded_with_transparency_is_seen_like_the_photo():
    # An opaque box around a photo with its own white background, transparent strips beside
    # it: the alpha channel outlines the box, not the item (version 4 saw a gray square).
    photo = item_on_white(size=(200, 200), box=(60, 30, 140, 170), colour=(30, 60, 160))
    canvas = photo.convert("RGBA")
    alpha = Image.new("L", photo.size, 0)
    alpha.paste(255, (0, 0, 192, 192))  # the last 8 rows and columns transparent
    canvas.putalpha(alpha)
    out, plain = photos.preprocess(canvas), photos.preprocess(photo)
    assert (out == plain).all()
    top, bottom, left, right = _extent(out)
    assert (top, bottom) == (0, 27) and left >= 5 and right <= 22  # the tall item, not the square
    assert out[:, :4].max() == 0 and out[:, -4:].max() == 0


def test_a_real_shop_photo_padded_with_transparency_gets_a_black_background():
    out = photos.preprocess(photos.open_photo(shared_photos().parent / "photos-shops" /
                                              "Sormy23__BasicBoots-OnlineShop/sandal_2.png"))
    corners = np.concatenate([out[:3, :3].ravel(), out[:3, -3:].ravel(), out[-3:, :3].ravel(), out[-3:, -3:].ravel()])
    assert corners.max() == 0  # version 4: the whole photo's gray, all the way to the corners


def test_exif_orientation_is_applied_before_anything_else():
    upright = item_on_white(size=(200, 300), box=(70, 30, 130, 270))  # a tall item
    # A phone stores the pixels sideways and an Orientation tag saying "turn 90° clockwise".
    sideways = upright.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = Image.open(__import__("io").BytesIO(encoded(sideways, "JPEG", quality=95, exif=exif.tobytes())))
    assert stored.size == (300, 200)
    out = photos.preprocess(stored)
    top, bottom, left, right = _extent(out)
    assert bottom - top >= 26 and right - left <= 10  # tall, as the photo was taken
    assert np.abs(out.astype(int) - photos.preprocess(upright).astype(int)).mean() < 8


def test_a_colourful_item_on_a_coloured_background_is_found_by_colour():
    # A red shirt on a green blanket: nearly the same gray, very different colours.
    image = Image.new("RGB", (160, 160), (60, 140, 60))
    image.paste((200, 40, 40), (40, 30, 120, 140))
    assert abs(np.asarray(image.convert("L"))[80, 80].astype(int) - np.asarray(image.convert("L"))[5, 5]) < 25
    out = photos.preprocess(image)
    top, bottom, left, right = _extent(out)
    assert (top, bottom) == (0, 27) and 3 <= left <= 5 and 22 <= right <= 24  # 80x110, fitted
    assert out[5:23, 8:20].min() > 40 and out[:, :3].max() == 0



def _checked_trousers_on_a_flowered_sheet() -> tuple[Image.Image, np.ndarray]:
    """Pale checked trousers on a pale sheet with a flower print, and where the trousers are."""
    rng = np.random.default_rng(3)
    image = Image.new("RGB", (160, 160), (235, 225, 210))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y, r = (int(v) for v in (rng.integers(0, 160), rng.integers(0, 160), rng.integers(3, 9)))
        colour = [(200, 60, 80), (60, 110, 190), (90, 160, 80)][int(rng.integers(0, 3))]
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    where = Image.new("L", image.size, 0)
    ImageDraw.Draw(where).polygon([(50, 20), (110, 20), (115, 140), (88, 140), (80, 60), (72, 140), (45, 140)], fill=255)
    trousers = Image.new("RGB", image.size, (215, 205, 190))
    pattern = ImageDraw.Draw(trousers)
    for x in range(0, 160, 12):
        pattern.line((x, 0, x, 160), fill=(150, 120, 100), width=3)
        pattern.line((0, x, 160, x), fill=(150, 120, 100), width=3)
    image.paste(trousers, mask=where)
    return image, np.asarray(where) > 127


def test_a_patterned_item_on_a_patterned_sheet_is_found_in_one_piece():
    image, truth = _checked_trousers_on_a_flowered_sheet()
    work, alpha = photos.prepare(image)

    def overlap(mask):
        return (mask & truth).sum() / (mask | truth).sum()

    # One background colour finds the pattern's lines and the flowers, not the trousers...
    assert overlap(photos.colour_mask(photos.to_lab(work))) < 0.8
    # ...GrabCut's colour models of item and sheet, learnt from the photo, find them whole.
    assert overlap(photos.foreground_mask(work, alpha=alpha)) > 0.9


def test_the_same_photo_always_gives_the_same_image():
    # GrabCut starts from OpenCV's per-thread random state; whatever ran before must not matter.
    image, _ = _checked_trousers_on_a_flowered_sheet()
    first = photos.preprocess(image)
    photos.preprocess(_open("JockNessMonster__Neural-Network/dress_1.jpeg"))
    assert np.array_equal(photos.preprocess(image), first)

def test_odd_images_do_not_break_it():
    for image in (Image.new("RGB", (1, 1), "white"), Image.new("L", (3, 500), 0), Image.new("P", (40, 30)),
                  Image.new("I;16", (50, 50), 3000), Image.new("LA", (20, 20), (0, 0)), Image.new("CMYK", (30, 30))):
        out = photos.preprocess(image)
        assert out.shape == (28, 28) and out.dtype == np.uint8


def test_components_and_holes():
    mask = np.zeros((10, 12), dtype=bool)
    mask[1:4, 1:4] = True
    mask[6:9, 2:11] = True
    mask[7, 5:8] = False  # a hole
    labels, count = photos.components(mask)
    assert count == 2 and len(set(labels[mask].tolist())) == 2
    assert photos.fill_holes(mask)[7, 6] and not photos.fill_holes(mask)[5, 5]


@pytest.mark.parametrize("data, message", [
    (b"hello, I am a text file", "is not an image"),
    (encoded(Image.new("RGB", (10, 10)), "GIF"), "is a GIF image"),
])
def test_open_photo_refuses_what_is_not_a_photo(data, message):
    with pytest.raises(photos.PhotoUnreadable, match=message):
        photos.open_photo(data)
